"""Packaging for zc.asyncui: a durable, transactional job queue in ZODB."""
import os

from setuptools import find_namespace_packages
from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read(name):
    with open(os.path.join(HERE, name), encoding='utf-8') as f:
        return f.read()


TESTS_REQUIRE = [
    'pytest >= 7',
    'pytest-timeout',
    'zope.testing',
    'zope.testbrowser',
    'WebTest',
    # tests/test_browser_chromium.py drives Debian's chromium through its
    # chromedriver (.ci/run installs both)
    'selenium >= 4.10',
    # The exposition format of @@metrics is checked with Prometheus's own
    # parser (tests/test_browser_metrics.py).
    'prometheus_client',
]

#: RelStorage on PostgreSQL (``--db postgres://...``).  psycopg2-binary,
#: not RelStorage's own ``postgresql`` extra: that one names psycopg2,
#: which compiles against libpq-dev and pg_config; the binary wheel
#: installs on CPython 3.10-3.13 without a compiler.
POSTGRESQL_REQUIRE = [
    'RelStorage >= 4',
    'psycopg2-binary >= 2.9.10',
]

setup(
    name='zc.asyncui',
    version='0.1.0.dev0',
    description=(
        'Durable, transactional job queue that lives inside a ZODB '
        'database: the Python 3 successor of zc.async.'),
    long_description=read('README.txt') + '\n\n' + read('CHANGES.txt'),
    long_description_content_type='text/x-rst',
    license='ZPL-2.1',
    python_requires='>=3.10',
    classifiers=[
        'Framework :: ZODB',
        'Framework :: Zope :: 3',
        'License :: OSI Approved :: Zope Public License',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Programming Language :: Python :: 3.13',
    ],
    package_dir={'': 'src'},
    # No src/zc/__init__.py: zc is a PEP 420 namespace shared with
    # zc.lockfile (which ZODB needs); see DESIGN notes in CHANGES.txt.
    packages=find_namespace_packages(where='src', include=['zc.*']),
    include_package_data=True,
    package_data={'zc.asyncui': ['*.zcml', '*.txt'],
                  'zc.asyncui.browser': ['*.zcml', 'templates/*.pt']},
    zip_safe=False,
    install_requires=[
        'setuptools',
        'ZODB >= 6',
        'ZEO >= 6',
        'BTrees >= 6',
        'persistent >= 6',
        'transaction >= 5',
        'zope.interface >= 6',
        'zope.component >= 6',
        'zope.event >= 5',
        # The Zope integration: ZCML directives, the standalone server
        # and its management pages (see docs/zcml.rst, docs/standalone.rst)
        'zope.configuration',
        'zope.schema',
        'zope.security',
        'zope.securitypolicy',
        'zope.principalregistry',
        'zope.processlifetime',
        'zope.publisher',
        'zope.traversing',
        'zope.container',
        'zope.site',
        'zope.annotation',
        'zope.error',
        'zope.login',
        'zope.password',
        'zope.browserpage',
        'zope.browserresource',
        'zope.browsermenu',
        'zope.pagetemplate',
        'zope.app.appsetup',
        'zope.app.publication',
        'zope.app.wsgi',
        'zope.app.exception',
        'zope.app.pagetemplate',
        'zope.app.rotterdam',
        'zope.formlib',
        'waitress',
        # --db URI on the command line (file://, zeo://, zconfig://, and
        # postgres:// once RelStorage is installed)
        'zodburi >= 2.5',
    ],
    extras_require={
        'postgresql': POSTGRESQL_REQUIRE,
        # The multi-process tests run on RelStorage too (they skip when
        # no PostgreSQL server can be started).
        'test': TESTS_REQUIRE + POSTGRESQL_REQUIRE,
        # bench/compare.py: the fastest durable peer measured here (Huey
        # with SQLite), run on the same jobs in the same run.
        'bench': ['huey'],
    },
    entry_points={
        'console_scripts': ['zc-asyncui = zc.asyncui.cli.main:main'],
    },
)
