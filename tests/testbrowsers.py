"""zope.testbrowser on a functional layer's WSGI app, the one way the
page tests make their browsers."""
import zope.testbrowser.wsgi


def browser_for(layer, login=None, handle_errors=True):
    """A test browser on ``layer``'s application that answers error
    statuses as pages (no exception), with Basic credentials ``login``
    ('user:password') when given."""
    browser = zope.testbrowser.wsgi.Browser(wsgi_app=layer.make_wsgi_app())
    browser.handleErrors = handle_errors
    browser.raiseHttpErrors = False
    if login:
        browser.addHeader('Authorization', 'Basic %s' % login)
    return browser
