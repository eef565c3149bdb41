"""What tests/zmiftesting.zcml's ZMI application needs besides
zope.app.rotterdam: the ``login_logout`` view its chrome renders (pitfall
Z8 of zope3_stack.md: no package provides it any more)."""
import zope.browsermenu.menu
import zope.publisher.browser
from zope.browserpage.viewpagetemplatefile import ViewPageTemplateFile


class LoginLogout(zope.publisher.browser.BrowserView):
    """Nothing to show: the test application uses Basic authentication."""

    def __call__(self):
        return ''


class RootPage(zope.publisher.browser.BrowserPage):
    """The application's own management screen of the site root (a real
    application has Contents there): a tab beside zc.asyncui's."""

    template = ViewPageTemplateFile('zmiroot.pt')

    def __call__(self):
        return self.template()


class SelectedManagementView(zope.publisher.browser.BrowserView):
    """``@@SelectedManagementView.html``, where Rotterdam's breadcrumbs
    lead: the first ``zmi_views`` tab of the object, as
    zope.app.publisher's view of that name does (that package is not
    installed here)."""

    def __call__(self):
        item = zope.browsermenu.menu.getFirstMenuItem(
            'zmi_views', self.context, self.request)
        if item is None:
            return 'This object has no management screens.'
        self.request.response.redirect(item['action'], trusted=True)
        return ''
