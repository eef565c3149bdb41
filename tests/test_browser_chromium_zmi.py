"""The ZMI screens in a real browser: headless Chromium on the Rotterdam
test application (tests/zmiftesting.zcml) served by waitress: Rotterdam's
style sheet applies, and the tabs lead from the site root to a job.

Skips or fails as tests/test_browser_chromium.py does when the browser
is missing.
"""
import os

import pytest
import transaction

import zc.asyncui
from zc.asyncui import history
from zc.asyncui import testing
from zc.asyncui.cli import serve

import browserfixtures
import jobs
from browserfixtures import By

HERE = os.path.dirname(os.path.abspath(__file__))

layer = testing.FunctionalLayer(os.path.join(HERE, 'zmiftesting.zcml'),
                                name='zmiftesting-chromium')
functional = pytest.fixture(testing.functional_fixture(layer))


@pytest.fixture
def zmi(functional):
    """(driver, base URL of the Rotterdam skin, key of a failed job)."""
    problem = browserfixtures.missing_browser()
    if problem and browserfixtures.browser_required():
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)
    queue = zc.asyncui.getQueue(functional.getRootFolder())
    job = queue.put(zc.asyncui.Job(jobs.fail, 'in the ZMI'))
    transaction.commit()
    testing.wait_for_result(job, timeout=30)
    # The Failed list reads the history, fed a few seconds after a job
    # finished.
    conn = job._p_jar
    testing.wait_until(lambda: conn.transaction_manager.abort() or (
        job.key in [j.key for j in history.query(conn)]), 30,
        'the failed job recorded in the history')
    http, url = browserfixtures.serve_http(functional.make_wsgi_app())
    driver = browserfixtures.chromium(authorization='Basic mgr:mgrpw')
    try:
        yield driver, url + '/++skin++Rotterdam', job.key
    finally:
        driver.quit()
        serve.stop_http(http)


def test_tabs_lead_from_the_site_root_to_a_job(zmi):
    driver, base, key = zmi
    driver.get(base + '/@@index.html')
    driver.find_element(By.LINK_TEXT, 'Async').click()
    assert driver.current_url == base + '/++async++/'
    tab = driver.find_element(By.CSS_SELECTOR, '.itemViews a.selected')
    assert tab.text == 'Overview'
    # Rotterdam's style sheet applies: the selected tab is #369 on white.
    assert tab.value_of_css_property('background-color') == \
        'rgba(51, 102, 153, 1)'
    driver.find_element(By.LINK_TEXT, 'Failed').click()
    driver.find_element(By.LINK_TEXT, key).click()
    assert driver.current_url == base + '/++async++/jobs/' + key
    tab = driver.find_element(By.CSS_SELECTOR, '.itemViews a.selected')
    assert tab.text == 'Job'
    traceback = driver.find_element(By.ID, 'traceback')
    assert 'in the ZMI' in traceback.text
    os.makedirs(browserfixtures.ARTIFACTS, exist_ok=True)
    driver.save_screenshot(os.path.join(browserfixtures.ARTIFACTS, 'zmi-job.png'))
