"""The standalone site's WSGI guards (zc.asyncui.browser.wsgi) against
hostile requests, through the site's own application: bodies too large,
field names with zope.publisher's type converters."""
import base64

import pytest
import webtest
import zope.testing.cleanup

from zc.asyncui import config
from zc.asyncui import testing
from zc.asyncui.browser import wsgi
from zc.asyncui.cli import site

PASSWORD = 'guard secret'
AUTH = {'Authorization': 'Basic ' + base64.b64encode(
    ('admin:' + PASSWORD).encode()).decode()}


@pytest.fixture(scope='module')
def app(tmp_path_factory):
    site.configure(site.PROJECT_ZCML, PASSWORD)
    db = testing.file_storage_db(str(tmp_path_factory.mktemp('guards')))
    site.bootstrap(db)
    yield webtest.TestApp(wsgi.make_app(db))
    db.close()
    config.reset()
    zope.testing.cleanup.cleanUp()


@pytest.mark.parametrize('query', [
    'x:int=abc', 'action:float=x', 'action:required=', 'a:list:int=z',
    'action:date=never',
])
def test_converter_names_in_the_query_are_400(app, query):
    for path in ('/++async++/', '/++async++/@@jobs-action'):
        response = app.get(path + '?' + query, headers=AUTH,
                           expect_errors=True)
        assert response.status_int == 400, (path, query)
        assert 'type converter' in response.text


def test_converter_names_in_a_body_are_400(app):
    response = app.post('/++async++/@@jobs-action', 'action:int=abc',
                        headers=dict(AUTH, **{
                            'Content-Type':
                            'application/x-www-form-urlencoded'}),
                        expect_errors=True)
    assert response.status_int == 400
    response = app.post('/++async++/@@jobs-action',
                        upload_files=[('f:int', 'x.txt', b'abc')],
                        headers=AUTH, expect_errors=True)
    assert response.status_int == 400


def test_plain_names_pass_and_the_body_is_kept(app):
    app.set_cookie('__csrftoken__', 'tok')
    response = app.post('/++async++/@@jobs-action',
                        {'action': 'cancel', 'key': '0xfffffff',
                         '__csrftoken__': 'tok'},
                        headers=AUTH, expect_errors=True)
    assert response.status_int == 200     # the page read the body
    assert 'There is no job 0xfffffff' in response.text


def test_huge_body_is_413_before_parsing(app):
    response = app.post('/++async++/@@jobs-action',
                        'action=cancel&x=' + 'y' * (wsgi.MAX_BODY_BYTES + 1),
                        headers=AUTH, expect_errors=True)
    assert response.status_int == 413


def test_field_names_of_get_and_post():
    environ = {'QUERY_STRING': 'a=1&b:int=2', 'REQUEST_METHOD': 'GET'}
    assert wsgi.field_names(environ) == ['a', 'b:int']
