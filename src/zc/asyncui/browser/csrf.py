"""The CSRF token of the management forms: a random value in a cookie
that each form repeats in a hidden field (double submit), so a page of
another site, which can make a browser POST but cannot read its
cookies, cannot act.

The cookie is zope.formlib's (``__csrftoken__``), so zc.asyncui's action
forms and its protected formlib forms (the agent's edit form) share one
token.  zope.formlib 7.1's own templates write the field as
``___csrftoken__`` (three underscores) while its check reads
``__csrftoken__`` (zope3_stack.md, P10): ``submitted`` accepts both.
"""
import binascii
import hmac
import os

#: The cookie, and the form field that must repeat it.
COOKIE = FIELD = '__csrftoken__'
#: The field name zope.formlib 7.1's pageform.pt writes (P10).
FORMLIB_FIELD = '___csrftoken__'


def token(request):
    """The token of ``request``'s browser: its cookie, or one this
    response already sets, or a new one set as a cookie now."""
    value = request.getCookies().get(COOKIE)
    if value:
        return value
    pending = request.response.getCookie(COOKIE)
    if pending is not None:
        return pending['value']
    value = binascii.hexlify(os.urandom(32)).decode('ascii')
    request.response.setCookie(COOKIE, value, path='/', httpOnly=True)
    return value


def submitted(request):
    """The token the form sent (either field name), or None."""
    for name in (FIELD, FORMLIB_FIELD):
        value = request.form.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def problem(request):
    """Why the request's token does not prove it came from our own form,
    or None when it does."""
    cookie = request.getCookies().get(COOKIE)
    sent = submitted(request)
    if not cookie:
        return ('the request carries no CSRF cookie (%s): open the form'
                ' again from its page, with cookies enabled, and submit'
                ' it from there' % COOKIE)
    if sent is None:
        return ('the form sent no CSRF token (field %s): submit the form'
                ' of the page, not a hand-made request' % FIELD)
    if not hmac.compare_digest(cookie.encode('utf-8', 'replace'),
                               sent.encode('utf-8', 'replace')):
        return ('the CSRF token of the form does not match this browser\'s'
                ' cookie (the form is stale, or was sent by another site):'
                ' reload the page and submit it again')
    return None
