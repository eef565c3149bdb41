"""What every page with a JSON twin shares: one data function draws both.

A page class sets ``template``; its twin (``@@NAME.json``) leaves it
None and answers the same dict as JSON.  A BadParameter raised while
reading the request becomes the 400 page (or its JSON), with the
class's ``advice`` saying what to do.
"""
import json

import zope.publisher.browser

from zc.asyncui.browser import traversal


class BadParameter(ValueError):
    """A query parameter that cannot be used; its text says which, why,
    and what to give instead."""


def json_response(request, data):
    """``data`` as the JSON body of the response."""
    request.response.setHeader('Content-Type', 'application/json')
    return json.dumps(data, indent=1, sort_keys=True)


class DataPage(zope.publisher.browser.BrowserPage):
    """A page (``template`` set) or its JSON twin (``template`` None)
    over ``data()``, which subclasses define; the page's template finds
    the dict as ``view/info``."""

    template = None
    #: The 400 page's advice after a BadParameter.
    advice = ('Change the parameter in the address, or start again from'
              ' the page without parameters.')

    def data(self):
        raise NotImplementedError

    def __call__(self):
        try:
            self.info = self.data()
        except BadParameter as e:
            return traversal.ErrorPage(
                self.context, self.request, str(e), self.advice)()
        if self.template is None:
            return json_response(self.request, self.info)
        return self.template()
