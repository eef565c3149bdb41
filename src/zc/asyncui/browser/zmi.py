"""zc.asyncui's pages as management screens of the Rotterdam ZMI skin.

browser/zmi.zcml, included by applications that use the ZMI, registers
two things from here:

- ``Tab``: the menu item class of the ``zmi_views`` tabs on the site
  root, the Queues mapping, queues, agents and jobs.  Its link is
  absolute: a job page's URL (``/++async++/jobs/0x3a``) has no trailing
  slash, so a relative action like zope.browsermenu's would lead from
  there to ``/++async++/jobs/index.html``.
- ``StandardMacros``: Rotterdam's standard_macros for zc.asyncui's
  objects, whose ``page`` macro draws the tabs.  Every zc.asyncui page
  fills ``context/@@standard_macros/page`` (the Zope convention), but
  Rotterdam draws tabs and actions only in pages that use a macro
  called ``view``: its template tests the TAL variable ``macroname``,
  which zope.tal sets to the last segment of the ``use-macro``
  expression.  The ``page`` macro given here uses Rotterdam's through a
  path ending in ``/view`` and passes the page's slots on.
"""
import zope.app.rotterdam.standardmacros
import zope.browsermenu.menu
import zope.component
import zope.security
import zope.traversing.browser.absoluteurl
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile

#: The macro names of standard_macros that StandardMacros answers with
#: its own template; every other name is Rotterdam's.
OWN_MACROS = ('page',)


class Tab(zope.browsermenu.menu.BrowserMenuItem):
    """A ``zmi_views`` tab whose ``action`` (as registered: ``@@name`` or
    a relative path) is made absolute from its object's URL.

    ``available()`` checks the tab's permission (zmi.zcml always gives
    one) and, for an action that names a view (``@@name``), that the
    view is registered and the user may call it: zmi.zcml can name the
    pages of every part of the UI, an application shows those it has,
    and a principal sees the tabs of the pages it may open (Edit only
    with zc.asyncui.Manage).  It never traverses the action as
    zope.browsermenu does (it is no longer relative once read).
    """

    relative_action = ''

    @property
    def action(self):
        base = zope.traversing.browser.absoluteurl.absoluteURL(
            self.context, self.request)
        return '%s/%s' % (base, self.relative_action)

    @action.setter
    def action(self, value):
        # MenuItemFactory sets the action given in ZCML.
        self.relative_action = value

    def available(self):
        if not super().available():
            return False
        if not self.relative_action.startswith('@@'):
            return True
        view = zope.component.queryMultiAdapter(
            (self.context, self.request), name=self.relative_action[2:])
        return view is not None and zope.security.canAccess(view, '__call__')

    def selected(self):
        """True on the page the tab leads to, with or without its
        ``@@`` and, for a default view, without its name."""
        url = self.request.getURL()
        action = self.action
        return url in _spellings(action)


def _spellings(url):
    """The URLs that name the same page as ``url``: with or without
    ``@@``, and an ``index.html`` (the default view) also without its
    name."""
    base, _, name = url.rpartition('/')
    name = name[2:] if name.startswith('@@') else name
    found = {'%s/%s' % (base, name), '%s/@@%s' % (base, name)}
    if name in ('index.html', ''):
        found.update((base, base + '/'))
    return found


#: The template of StandardMacros' own macros.
_MACROS = ViewPageTemplateFile('templates/zmi_macros.pt')


class StandardMacros(zope.app.rotterdam.standardmacros.StandardMacros):
    """Rotterdam's ``standard_macros``, except that ``page`` draws the
    ZMI tabs of the page's object (see the module docstring)."""

    def __getitem__(self, key):
        if key in OWN_MACROS:
            return _MACROS.macros[key]
        return super().__getitem__(key)
