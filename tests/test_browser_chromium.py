"""The pages in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) on the standalone site served by
waitress, with a dispatcher and a failing job.

Without the browser these tests skip and say what to install; with
ZC_ASYNCUI_REQUIRE_BROWSER=1 (as .ci/run sets) they fail instead.
Screenshots go to test-artifacts/ (not in git).
"""
import os
import time
import urllib.error
import urllib.request

import pytest

import browserfixtures
import jobs
from browserfixtures import By
from browserfixtures import WebDriverWait

ARTIFACTS = browserfixtures.ARTIFACTS
#: A job whose error message is markup: the pages must show it as text.
HOSTILE = '<script>window.zcAsyncuiInjected = 1</script><b>boom</b>'


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    problem = browserfixtures.missing_browser()
    if problem and browserfixtures.browser_required():
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)
    served = browserfixtures.Site(str(tmp_path_factory.mktemp('chromium')))
    served.start()
    try:
        served.failed = served.put(jobs.fail, HOSTILE)
        served.wait_until_completed(served.failed)
        served.wait_until_recorded(served.failed)
        # Fails once, then succeeds: the job the retry test requeues.
        served.flaky = served.put(jobs.flaky, 'chromium retry', 1)
        served.wait_until_completed(served.flaky)
        yield served
    finally:
        served.stop()


@pytest.fixture(autouse=True)
def _no_leaked_dispatchers():
    """Overrides conftest.py's, which stops every dispatcher after each
    test: the site's runs for the whole module (Site.stop stops it).  A
    dispatcher stopped and started again would also forget completions
    it has not yet recorded in the history."""
    yield


@pytest.fixture(scope='module')
def driver(site):
    browser = browserfixtures.chromium()
    yield browser
    browser.quit()


def screenshot(driver, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name + '.png')
    assert driver.save_screenshot(path), path
    return path


def by_css(driver, selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def test_missing_browser_says_what_to_install(monkeypatch):
    monkeypatch.setattr(browserfixtures, 'CHROMIUM', '/nonexistent/chromium')
    problem = browserfixtures.missing_browser()
    assert '/nonexistent/chromium' in problem
    assert 'apt-get install -y chromium chromium-driver' in problem
    assert browserfixtures.REQUIRE_VARIABLE in problem


@pytest.mark.parametrize('value, required', [
    ('', False), ('0', False), ('1', True), ('yes', True)])
def test_browser_required_by_the_environment(value, required):
    environ = {browserfixtures.REQUIRE_VARIABLE: value}
    assert browserfixtures.browser_required(environ) is required
    assert browserfixtures.browser_required({}) is False


def test_overview_loads(site, driver):
    driver.get(site.url + '/++async++/')
    assert driver.title == 'zc.asyncui'
    queues = by_css(driver, 'table#queues td.queue a')
    assert len(queues) == 1 and queues[0].text.startswith("''")
    failed = by_css(driver, 'table#queues td.failed')[0]
    assert int(failed.text) >= 1
    states = [cell.text for cell in by_css(driver, '#dispatchers td.state')]
    assert states == ['alive']
    assert by_css(driver, 'svg.graph')  # drawn inline, no script needed
    assert os.path.getsize(screenshot(driver, 'overview')) > 1000


def test_job_page_shows_the_traceback_and_markup_as_text(site, driver):
    driver.get(site.url + '/++async++/jobs/' + site.failed)
    traceback = by_css(driver, 'pre#traceback')[0]
    assert traceback.is_displayed()
    assert 'ValueError' in traceback.text
    assert HOSTILE in traceback.text  # shown as text...
    # ... and never run or rendered as markup
    assert driver.execute_script('return window.zcAsyncuiInjected') is None
    assert not by_css(driver, 'pre#traceback b')
    screenshot(driver, 'job-failed')


def test_unknown_url_is_a_clean_404(site, caplog):
    # Every page load asks for /favicon.ico; zope.app.exception's
    # NotFound page fills standard_macros/dialog, which the standalone
    # layout must have, or each 404 logs a traceback.
    request = urllib.request.Request(
        site.url + '/favicon.ico',
        headers={'Authorization': browserfixtures.ADMIN})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == 404
    page = raised.value.read().decode('utf-8')
    assert 'non-existing page' in page  # zope.app.exception's page
    assert 'A server error occurred' not in page
    assert 'Exception while rendering view on exception' not in caplog.text


def test_log_page_shows_the_failure_as_text(site, driver):
    driver.get(site.url + '/++async++/@@log')
    assert HOSTILE in driver.find_element(By.TAG_NAME, 'body').text
    assert driver.execute_script('return window.zcAsyncuiInjected') is None
    screenshot(driver, 'log')


def test_follow_a_failed_job_to_its_traceback(site, driver):
    driver.get(site.url + '/++async++/')
    driver.find_element(By.LINK_TEXT, 'Failed').click()
    assert driver.current_url == site.url + '/++async++/@@failed'
    screenshot(driver, 'failed')
    driver.find_element(By.LINK_TEXT, site.failed).click()
    assert driver.current_url == site.url + '/++async++/jobs/' + site.failed
    traceback = by_css(driver, 'pre#traceback')[0]
    assert 'ValueError' in traceback.text
    screenshot(driver, 'job-traceback')


def test_retry_a_failed_job(site, driver):
    job_url = site.url + '/++async++/jobs/' + site.flaky
    # As on the Failed page: until then, Queue.retry refuses (the
    # dispatcher has not yet taken the job off its agent).
    site.wait_until_recorded(site.flaky)
    driver.get(job_url)
    buttons = by_css(driver, '#action-buttons form button')
    requeue = [b for b in buttons if b.text == 'Requeue']
    assert requeue, [b.text for b in buttons]
    requeue[0].click()  # a POST form with the CSRF token
    message = driver.find_element(By.ID, 'status-message').text
    assert site.flaky in message and 'for attempt 2' in message, message
    screenshot(driver, 'retry-done')
    result = site.wait_until_completed(site.flaky)
    assert result == 'chromium retry succeeded on attempt 2'
    driver.get(job_url)
    assert driver.find_element(By.ID, 'state').text == 'succeeded'
    outcomes = by_css(driver, '#attempts tr td:last-child')
    assert [cell.text for cell in outcomes] == ['failed', 'succeeded']
    screenshot(driver, 'retried-job')


def test_overview_reloads_itself_until_paused(site, driver):
    driver.get(site.url + '/++async++/?refresh=2')
    driver.execute_script('window.zcAsyncuiMark = 1')
    # A reload is a new page: the mark is gone.
    WebDriverWait(driver, 15).until(lambda d: d.execute_script(
        'return window.zcAsyncuiMark === undefined'))
    # Pause at once, in the reloaded page (its own 2 s have just begun).
    label = driver.execute_script(
        "var b = document.getElementById('pause-button'); b.click();"
        " window.zcAsyncuiMark = 1; return b.textContent;")
    assert label == 'Resume'
    time.sleep(3)  # more than the reload interval
    assert driver.execute_script('return window.zcAsyncuiMark') == 1
