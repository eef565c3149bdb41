"""``standard_macros`` of the standalone site: the ``page`` and ``view``
macros that zope.app.exception's pages (the 401 page) and zope.formlib's
forms use (pitfall P9).

An application with its own skin (Rotterdam, ...) has its own
standard_macros; the site ZCML of ``zc-asyncui serve`` registers this
one.
"""
import zope.publisher.browser
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile


class StandardMacros(zope.publisher.browser.BrowserView):
    """``context/@@standard_macros/page`` and ``.../view``."""

    template = ViewPageTemplateFile('templates/macros.pt')

    def __getitem__(self, name):
        return self.template.macros[name]
