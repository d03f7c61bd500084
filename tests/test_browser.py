"""The workflow in a real browser: Debian's chromium driven by Playwright's Python API.

1. A student opens a release notebook in JupyterLab on 127.0.0.1 and chooses Run > Run All Cells:
   it stops at the first ``NotImplementedError`` with no other error; a source notebook runs clean.
2. A student opens the ``feedback.html`` that grading wrote: its groups, subtotals and folded tests.
3. A TA opens formgrader in the nbgrader course that ``grade`` filled: the graded assignment is
   listed (also through formgrader's own API) and a student's notebook opens, hidden tests inside.

Screenshots are kept under ``build/test-artifacts/browser/``. ``make install`` installs chromium
(Debian) and playwright (PyPI); where chromium cannot be had, these tests skip saying so.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from autograder.grading import grade_and_record, grade_submission
from autograder.release import release_assignment
from autograder.reports import write_student_reports
from autograder.unpack import Submission
from eecs498.assignment import find_assignment
from helpers import write_zip
from notebook_helpers import errors

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("browser")]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts" / "browser"
TOKEN = "eecs498-browser-test"
A1 = find_assignment("a1_knn")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip("chromium is not installed (Debian package `chromium`; `make install` installs it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (`pip install playwright`; `make install` installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def jupyter(command: str, root: Path, home: Path):
    """``jupyter lab`` or ``jupyter server`` serving ``root`` on 127.0.0.1; yields its base URL."""
    port = free_port()
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home), "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "LANG": "C.UTF-8"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / f"jupyter-{command}"), "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}", "--allow-root",
         "--LabApp.news_url="], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"jupyter {command} did not start: {server.stdout.read1(20000).decode(errors='replace')}")
        yield url
    finally:
        server.terminate()
        server.wait(60)


def get_json(url: str):
    return json.load(urllib.request.urlopen(url, timeout=60))


def kernels_idle(url: str, notebook: str | None = None) -> bool:
    """Every kernel rests (and, given ``notebook``, that notebook has one)."""
    sessions = get_json(f"{url}/api/sessions?token={TOKEN}")
    if notebook is not None and not any(s.get("path") == notebook for s in sessions):
        return False
    return bool(sessions) and all(s["kernel"]["execution_state"] == "idle" for s in sessions)


def run_all_in_jupyterlab(browser, url: str, notebook: str, shot: str) -> None:
    """Open ``notebook`` in JupyterLab, Run > Run All Cells, wait until the kernel rests, save."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{url}/lab/tree/{notebook}?reset&token={TOKEN}")  # reset: no tabs restored from before
    page.wait_for_selector(".jp-Notebook", timeout=300_000)
    select_kernel = page.locator(".jp-Dialog").get_by_role("button", name="Select", exact=True)
    deadline = time.monotonic() + 300
    while not kernels_idle(url, notebook) and time.monotonic() < deadline:
        if select_kernel.count() and select_kernel.first.is_visible():  # JupyterLab may ask which kernel
            select_kernel.first.click()
        time.sleep(0.5)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    quiet, deadline = 0, time.monotonic() + 1800  # a hang guard: the run itself takes seconds
    while quiet < 6 and time.monotonic() < deadline:
        time.sleep(0.5)
        quiet = quiet + 1 if kernels_idle(url) else 0
    from playwright.sync_api import Error

    error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    if error.count():
        try:  # for the screenshot; JupyterLab may not have rendered an off-screen cell
            error.first.scroll_into_view_if_needed(timeout=5000)
        except Error:
            pass
    page.keyboard.press("Control+s")
    page.wait_for_timeout(2000)
    page.screenshot(path=str(ARTIFACTS / shot))
    page.close()


def test_a_release_notebook_run_all_in_jupyterlab_stops_at_the_first_stub(browser, tmp_path):
    release = release_assignment(A1, tmp_path / "release")
    source = tmp_path / "source"
    source.mkdir()
    for name in (*A1.modules, *A1.notebooks, "assignment.toml"):
        shutil.copy2(A1.root / name, source / name)
    with jupyter("lab", tmp_path, tmp_path) as url:
        run_all_in_jupyterlab(browser, url, "release/a1_knn/pytorch101.ipynb", "jupyterlab-release-run-all.png")
        run_all_in_jupyterlab(browser, url, "source/pytorch101.ipynb", "jupyterlab-source-run-all.png")
    stopped = nbformat.read(release / "pytorch101.ipynb", as_version=4)
    assert [(name, message) for _, name, message in errors(stopped)] == [
        ("NotImplementedError", "pytorch101.create_sample_tensor: not implemented yet")]
    ran = nbformat.read(source / "pytorch101.ipynb", as_version=4)
    assert errors(ran) == []
    assert all(c.execution_count is not None for c in ran.cells if c.cell_type == "code")


def test_feedback_html_renders_its_groups_in_the_browser(browser, tmp_path):
    release = release_assignment(A1, tmp_path / "release")
    files = {"pytorch101.py": (A1.root / "pytorch101.py").read_text(), "knn.py": (release / "knn.py").read_text()}
    grade = grade_submission(A1, Submission("cat", write_zip(tmp_path / "cat.zip", files)))
    write_student_reports(grade, tmp_path / "cat", A1)
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    page.goto((tmp_path / "cat" / "feedback.html").as_uri())
    headings = page.locator("section h2").all_inner_texts()
    assert len(headings) == len(A1.groups)
    assert page.locator("section.full").count() == 3 and page.locator("section.lost").count() == 3
    assert page.locator("details[open]").count() == 0 and page.locator("details").count() == 3
    assert page.locator("td code").count() > 0
    assert page.locator("td").first.is_visible()
    page.screenshot(path=str(ARTIFACTS / "feedback.png"), full_page=True)
    page.close()


def test_formgrader_lists_the_graded_assignment_and_opens_a_student(browser, tmp_path):
    release = release_assignment(A1, tmp_path / "release")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    complete = {name: (A1.root / name).read_text() for name in A1.modules}
    notebooks = {name: (release / name).read_bytes() for name in A1.notebooks}
    write_zip(submissions / "ann.zip", {**complete, **notebooks})
    write_zip(submissions / "bob.zip", {**notebooks, "pytorch101.py": complete["pytorch101.py"],
                                        "knn.py": (release / "knn.py").read_text()})
    hostile = nbformat.read(release / "knn.ipynb", as_version=4)
    for cell in hostile.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = ('<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> '
                           '[more](javascript:window.pwned=3)')
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<script>window.pwned = 4</script>"})]
    write_zip(submissions / "mal.zip", {**complete, "pytorch101.ipynb": notebooks["pytorch101.ipynb"],
                                        "knn.ipynb": nbformat.writes(hostile)})
    out = tmp_path / "grades"
    grade_and_record(A1, submissions, out, jobs=1, progress=False)
    course = out / "nbgrader"
    with jupyter("server", course, tmp_path) as url:
        listed = {a["name"]: a for a in get_json(f"{url}/formgrader/api/assignments?token={TOKEN}")}
        assert "a1_knn" in listed and listed["a1_knn"]["num_submissions"] == 3, listed
        submissions_api = get_json(f"{url}/formgrader/api/submissions/a1_knn?token={TOKEN}")
        assert sorted(s["student"] for s in submissions_api) == ["ann", "bob", "mal"]
        assert {s["student"]: s["score"] for s in submissions_api}["ann"] == pytest.approx(A1.max_score)

        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/formgrader/manage_assignments?token={TOKEN}")
        page.wait_for_selector("text=a1_knn", timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "formgrader-manage-assignments.png"))
        page.goto(f"{url}/formgrader/gradebook/a1_knn/knn?token={TOKEN}")
        page.wait_for_selector("text=Submission #", timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "formgrader-knn-submissions.png"))
        page.get_by_text("Submission #", exact=False).first.click()
        page.wait_for_selector("text=Hidden tests of knn.py", timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "formgrader-student-notebook.png"))
        assert ran_script(page, url) == [False, False, False]  # the hostile one among them: nothing it wrote runs
        # The control: the hostile notebook as submitted, put in place without the rebuild, does run.
        placed = course / "autograded" / "mal" / "a1_knn" / "knn.ipynb"
        raw = nbformat.read(placed, as_version=4)
        raw.cells[:-1] = hostile.cells
        nbformat.write(raw, placed)
        assert any(ran_script(page, url)), "the control failed: formgrader did not run the raw hostile notebook"
        page.close()


def ran_script(page, url: str) -> list[bool]:
    """For each knn submission in formgrader: whether opening it ran a student's script."""
    ran = []
    for index in range(3):
        page.goto(f"{url}/formgrader/gradebook/a1_knn/knn?token={TOKEN}")
        page.wait_for_selector("text=Submission #", timeout=120_000)
        page.get_by_text("Submission #", exact=False).nth(index).click()
        page.wait_for_selector("text=Hidden tests of knn.py", timeout=120_000)
        page.wait_for_timeout(1000)
        ran.append(page.evaluate("typeof window.pwned") != "undefined")
    return ran
