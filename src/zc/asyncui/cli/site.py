"""The Zope site of ``zc-asyncui serve``: its ZCML, its admin, its root
folder.

The site ZCML is the top-level configure.zcml of the project (beside
setup.py), or the file given with ``--zcml``.  The admin principal
``zope.admin`` (login ``admin``) is granted zope.Manager there, but is
defined here, from Python, once the ZCML is read: its password is known
only at run time.  It comes from the environment variable
ZC_ASYNCUI_ADMIN_PASSWORD when set; otherwise from the file
``var/admin-password.txt``, which the first start creates (mode 0600)
with a random password and announces once.
"""
import logging
import os
import secrets
import stat

import zope.app.appsetup.appsetup
import zope.app.publication.zopepublication
import zope.event
import zope.password.password
import zope.principalregistry.principalregistry
import zope.processlifetime

from zc.asyncui.cli import server

logger = logging.getLogger(__name__)

PASSWORD_VARIABLE = 'ZC_ASYNCUI_ADMIN_PASSWORD'
PASSWORD_FILE_NAME = 'admin-password.txt'
ADMIN_ID = 'zope.admin'
ADMIN_LOGIN = 'admin'
#: How the admin's password is kept in memory: the zope.password
#: manager registered under that name by zope.password's ZCML.
PASSWORD_MANAGER_NAME = 'SSHA'
PASSWORD_MANAGER = zope.password.password.SSHAPasswordManager()
#: The ZCML feature ``zc-asyncui serve`` provides: the site ZCML starts
#: the dispatcher only without it (serve starts it with its options).
SERVE_FEATURE = 'zc-asyncui-serve'
#: Where zope.app.appsetup keeps the root folder in the database root.
ROOT_FOLDER_NAME = zope.app.publication.zopepublication.ZopePublication\
    .root_name
#: The project's own site configuration, beside setup.py.
PROJECT_ZCML = os.path.normpath(os.path.join(
    os.path.dirname(__file__), '..', '..', '..', '..', 'configure.zcml'))


# -- the admin's password ----------------------------------------------

class AdminPassword:
    """The admin's password and where it comes from.

    ``source`` is 'environment' or the password file's path; ``created``
    is True when this start generated it (the only time it is shown).
    """

    def __init__(self, password, source, created=False):
        self.password = password
        self.source = source
        self.created = created

    def announcement(self):
        """What to tell the operator at start."""
        if self.source == 'environment':
            return ('admin password: taken from %s' % PASSWORD_VARIABLE)
        if self.created:
            return ('admin password (generated, shown only this once):'
                    ' %s\n  it is kept in %s (mode 0600); to change it,'
                    ' edit or delete that file (a new one is generated at'
                    ' the next start) or set %s, then restart'
                    % (self.password, self.source, PASSWORD_VARIABLE))
        return ('admin password: in %s (edit or delete it, or set %s, and'
                ' restart to change it)' % (self.source, PASSWORD_VARIABLE))


def admin_password(var, environ=os.environ):
    """The AdminPassword for the var directory ``var``; generates and
    stores one when neither the environment nor the file has one.
    Raises CommandError for an unusable file."""
    password = environ.get(PASSWORD_VARIABLE)
    if password is not None:
        if not password.strip():
            raise server.UsageError(
                '%s is set but empty: set it to the admin password, or'
                ' unset it to use a generated one' % PASSWORD_VARIABLE)
        return AdminPassword(password, 'environment')
    path = os.path.join(var, PASSWORD_FILE_NAME)
    if os.path.exists(path):
        return AdminPassword(_read_password(path), path)
    return AdminPassword(_create_password(path), path, created=True)


def _read_password(path):
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        logger.warning('%s can be read by other users (mode %04o): run'
                       ' chmod 600 %s', path, mode, path)
    try:
        with open(path, encoding='utf-8') as f:
            password = f.readline().strip()
    except (OSError, UnicodeError) as e:
        raise server.CommandError('cannot read the admin password from %s:'
                                  ' %s' % (path, e)) from None
    if not password:
        raise server.CommandError(
            '%s is empty: write the admin password on its first line, or'
            ' delete it to have a new one generated' % path)
    return password


def _create_password(path):
    password = secrets.token_urlsafe(12)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise server.CommandError('cannot create the admin password file'
                                  ' %s: %s' % (path, e)) from None
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        f.write(password + '\n')
    return password


# -- ZCML and the admin --------------------------------------------------

def check_zcml(path):
    """Raise UsageError unless ``path`` is a readable file."""
    if not os.path.isfile(path):
        raise server.UsageError(
            'the site configuration %s does not exist: pass --zcml FILE'
            ' (the project ships configure.zcml beside setup.py)' % path)


def configure(zcml_path, password):
    """Read the site ZCML, with the feature SERVE_FEATURE, and define
    the admin with ``password``.

    The admin is defined by an extra configuration action that runs
    before the file's own actions, so that the file's ``<grant ...
    principal="zope.admin"/>`` finds it.  ZCML can be read once per
    process (zope.app.appsetup).
    """
    context = zope.app.appsetup.appsetup.config(
        zcml_path, features=(SERVE_FEATURE,), execute=False)
    context.action(discriminator=('zc.asyncui:admin', ADMIN_ID),
                   callable=define_admin, args=(password,), order=-1)
    context.execute_actions()


def define_admin(password):
    """Define the principal ``zope.admin`` (login ``admin``) with
    ``password`` in the global principal registry.  The password is kept
    hashed (SSHA)."""
    zope.principalregistry.principalregistry.principalRegistry\
        .definePrincipal(ADMIN_ID, 'Administrator', login=ADMIN_LOGIN,
                         password=PASSWORD_MANAGER.encodePassword(password),
                         passwordManagerName=PASSWORD_MANAGER_NAME)


def bootstrap(db):
    """Create the root folder if missing: DatabaseOpened, which
    zope.app.appsetup answers with DatabaseOpenedWithRoot.  Raises
    CommandError if the ZCML lacks what creates it (pitfall P2)."""
    zope.event.notify(zope.processlifetime.DatabaseOpened(db))
    conn = db.open()
    try:
        found = ROOT_FOLDER_NAME in conn.root()
    finally:
        conn.close()
    if not found:
        raise server.CommandError(
            'the site ZCML did not create the root folder: it must include'
            ' zope.component, zope.app.appsetup and zope.site')
