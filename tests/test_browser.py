"""Run every lesson in JupyterLab in headless Chromium, as a learner would, and check what it shows.

For each language the test starts its own JupyterLab on 127.0.0.1 with a token, with a copy of
the notebooks as its root folder. Both servers start at once, in the background. Its own
settings folder sets the interface language: English for the English lessons, and Traditional
Chinese (from jupyterlab-language-pack-zh-TW) for the zh-TW lessons. One browser page per
language stays open, and the lessons are opened in it one after another. Each lesson is run
with Run > Run All Cells and checked for error output, rendered widget explorers that follow
their sliders, and the language of its text. Then its tab is closed and its kernel shut down.
A screenshot of each lesson goes to test-artifacts/screenshots/<run id>/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lesson_notebooks import (
    CHROMIUM,
    CHROMIUM_ARGUMENTS,
    CJK,
    LANGUAGES,
    NOTEBOOKS,
    lesson_paths,
    read,
    require_browser,
    screenshot_folder,
)

SERVER_START_TIMEOUT_S = 90
NOTEBOOK_OPEN_TIMEOUT_MS = 60_000
RUN_ALL_TIMEOUT_MS = 600_000  # the lessons' slowest cells, with the browser sharing two cores
WIDGET_UPDATE_TIMEOUT_S = 30
POLL_MS = 100
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
JUPYTERLAB_LOCALE = {"en": "en", "zh-TW": "zh_TW"}

LESSONS = [(language, path) for language in LANGUAGES for path in lesson_paths(language)]


def lesson_id(item: tuple[str, Path]) -> str:
    language, path = item
    return f"{language}/{path.stem}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_settings(folder: Path, language: str) -> None:
    """Write JupyterLab user settings: interface language, no news or update checks, all cells drawn."""
    settings = {
        "@jupyterlab/translation-extension/plugin": {"locale": JUPYTERLAB_LOCALE[language]},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        # Draw every cell, so the checks see all outputs without scrolling them into view.
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    }
    for plugin, values in settings.items():
        package, _, name = plugin.rpartition("/")
        target = folder / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values), encoding="utf-8")


class JupyterLabServer:
    """A JupyterLab process on 127.0.0.1 serving a copy of the notebooks."""

    def __init__(self, language: str, workspace: Path) -> None:
        self.language = language
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.root = workspace / "root"
        shutil.copytree(NOTEBOOKS / language, self.root / language)
        settings = workspace / "settings"
        write_settings(settings, language)
        environment = dict(os.environ)
        for variable, folder in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                                 ("IPYTHONDIR", "ipython")):
            environment[variable] = str(workspace / folder)
        command = [
            sys.executable, "-m", "jupyterlab",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspace / 'workspaces'}",
            # No request leaves this machine: no news feed, no update check, no extension index.
            "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            # The app object, window.jupyterapp, lets the test open and close documents and watch the
            # kernel's messages to see when a widget update is complete.
            "--LabApp.expose_app_in_browser=True",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self.log_path = workspace / "jupyterlab.log"
        self.log = open(self.log_path, "w", encoding="utf-8")
        # A session of its own, so stop() can end the kernels with the server.
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=environment,
                                        start_new_session=True)
        self.ready = False
        self.shutdown_threads: list[threading.Thread] = []
        self.shutdown_errors: list[Exception] = []
        self.closed_sessions: set[str] = set()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def wait_until_ready(self) -> None:
        """Wait up to SERVER_START_TIMEOUT_S for the server to answer /api/status, unless it already has."""
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not self.ready and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.process.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as response:
                    self.ready = response.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        if self.ready:
            return
        self.stop()
        raise RuntimeError(
            f"JupyterLab did not respond on port {self.port} within {SERVER_START_TIMEOUT_S} s:\n{self.log_text()}"
        )

    def wait_for_idle_kernel(self, notebook: str, timeout_s: float) -> None:
        """Wait until the notebook at server path ``notebook`` has a session whose kernel is idle."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with urllib.request.urlopen(self.url("api/sessions"), timeout=10) as response:
                sessions = json.load(response)
            for session in sessions:
                if session["path"] == notebook and session["kernel"]["execution_state"] == "idle":
                    return
            time.sleep(POLL_MS / 1000)
        raise AssertionError(f"the kernel of {notebook} was not idle within {timeout_s} s")

    def shut_down_sessions(self) -> None:
        """Start shutting down every notebook session and its kernel, so one lesson's kernel does not outlive it.

        The server took about a second to stop a kernel on two shared cores, so the DELETE requests
        run on a thread while the next lesson starts. stop() waits for them and raises their first error.
        """
        with urllib.request.urlopen(self.url("api/sessions"), timeout=10) as response:
            sessions = json.load(response)
        session_ids = [session["id"] for session in sessions if session["id"] not in self.closed_sessions]
        self.closed_sessions.update(session_ids)
        thread = threading.Thread(target=self._delete_sessions, args=(session_ids,))
        thread.start()
        self.shutdown_threads.append(thread)

    def _delete_sessions(self, session_ids: list[str]) -> None:
        try:
            for session_id in session_ids:
                request = urllib.request.Request(self.url(f"api/sessions/{session_id}"), method="DELETE")
                with urllib.request.urlopen(request, timeout=30):
                    pass
        except Exception as error:  # re-raised by stop() on the test's thread
            self.shutdown_errors.append(error)

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(encoding="utf-8")[-4000:]

    def stop(self) -> None:
        """Stop the server and its kernels, then raise the first error of shut_down_sessions(), if any."""
        for thread in self.shutdown_threads:
            thread.join()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # kernels the server left behind
        except ProcessLookupError:
            pass
        self.log.close()
        if self.shutdown_errors:
            message = (f"shutting down a lesson's session on port {self.port} failed. "
                       f"See the error above and the server log {self.log_path}")
            raise RuntimeError(message) from self.shutdown_errors[0]


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS)
        yield chromium
        chromium.close()


def selected_languages(session: pytest.Session) -> list[str]:
    """Return the languages of the lessons that this session runs in the browser, in LANGUAGES order."""
    languages = {item.callspec.params["item"][0] for item in session.items
                 if item.path == Path(__file__) and hasattr(item, "callspec")}
    return [language for language in LANGUAGES if language in languages]


@pytest.fixture(scope="module")
def servers(browser, tmp_path_factory, request):
    """Start the JupyterLab of every selected language at once, and stop them all after the module.

    Each server starts in the background, so the second one starts while the first language's
    lessons run. The yielded function waits until the server of its language responds.
    """
    started: dict[str, JupyterLabServer] = {}
    try:
        for language in selected_languages(request.session):
            started[language] = JupyterLabServer(language, tmp_path_factory.mktemp(f"jupyterlab-{language}"))
    except BaseException:
        for server in started.values():
            server.stop()
        raise

    def server_for(language: str) -> JupyterLabServer:
        if language not in started:
            started[language] = JupyterLabServer(language, tmp_path_factory.mktemp(f"jupyterlab-{language}"))
        started[language].wait_until_ready()
        return started[language]

    yield server_for
    errors = []
    for server in started.values():
        try:
            server.stop()
        except RuntimeError as error:
            errors.append(error)
    if errors:
        raise errors[0]


class LabPage:
    """A browser page with JupyterLab open, reused for every lesson of one language, as a learner keeps one tab."""

    def __init__(self, browser, server: JupyterLabServer) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=server.language)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.reported_errors = 0
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        # "reset" starts from an empty workspace, so no earlier document opens again.
        self.page.goto(server.url("lab") + "&reset")
        self.page.wait_for_function("() => window.jupyterapp !== undefined", timeout=NOTEBOOK_OPEN_TIMEOUT_MS)
        self.page.evaluate("async () => { await window.jupyterapp.restored; }")

    def open(self, path: str) -> None:
        """Open the notebook at server path ``path``, as a double click in the file browser does."""
        self.page.evaluate(
            """async (path) => {
                await window.jupyterapp.commands.execute('docmanager:open', {path, factory: 'Notebook'});
            }""",
            path,
        )

    def close_documents(self) -> None:
        """Close every tab of the main area without saving, because Run All changed the lesson's outputs."""
        self.page.evaluate(
            "() => { for (const widget of Array.from(window.jupyterapp.shell.widgets('main'))) widget.dispose(); }"
        )

    def take_errors(self) -> list[str]:
        """Return the JavaScript errors raised since the last call, and mark them as reported."""
        errors = self.errors[self.reported_errors:]
        self.reported_errors = len(self.errors)
        return errors


@pytest.fixture(scope="module")
def lab_pages(browser, servers):
    """Yield a function that returns the JupyterLab page of a language, opened on first use.

    After the module, the pages are closed and any JavaScript error that no lesson reported fails.
    """
    pages: dict[str, LabPage] = {}

    def page_for(language: str) -> LabPage:
        if language not in pages:
            pages[language] = LabPage(browser, servers(language))
        return pages[language]

    yield page_for
    errors = []
    for page in pages.values():
        errors += page.take_errors()
        page.context.close()
    assert not errors, f"JavaScript errors after the last lesson: {errors}"


def click_menu_command(page, commands: tuple[str, ...]) -> None:
    """Click the main-menu item of the first of ``commands`` found, by command id, in any interface language."""
    selector = ", ".join(f'.lm-Menu:visible .lm-Menu-item[data-command="{command}"]' for command in commands)
    menu_bar_items = page.locator("#jp-menu-panel .lm-MenuBar-item")
    for position in range(menu_bar_items.count()):
        menu_bar_items.nth(position).click()
        item = page.locator(selector)
        if item.count():
            item.first.click()
            return
        page.keyboard.press("Escape")
    raise AssertionError(f"no menu contains any of the commands {commands}")


# Command ids of the main-menu items in JupyterLab 4.6; the notebook's own ids are the fallback.
CLEAR_ALL_OUTPUTS = ("editmenu:clear-all", "notebook:clear-all-cell-outputs")
RUN_ALL_CELLS = ("runmenu:run-all", "notebook:run-all-cells")


def wait_for_run_to_finish(page, code_cells: int) -> None:
    """Wait until every code cell shows an execution count and the kernel is idle.

    Call it only after clearing the outputs, because the stored counts would satisfy it at once.
    """
    page.wait_for_function(
        """(expected) => {
            const prompts = Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'));
            const counted = prompts.filter(prompt => /\\[\\d+\\]/.test(prompt.textContent)).length;
            const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
            const idle = indicator === null || indicator.getAttribute('data-status') === 'idle';
            return prompts.length === expected && counted === expected && idle;
        }""",
        arg=code_cells,
        timeout=RUN_ALL_TIMEOUT_MS,
        polling=POLL_MS,
    )


IMAGE_DIGEST = """async (image) => {
    const bytes = await (await fetch(image.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    return Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join('');
}"""


def explorer_state(explorer) -> tuple[str, str]:
    """Return the digest of an explorer's first image and the text of its HTML summary."""
    image = explorer.locator("img.widget-image").first
    summary = explorer.locator(".widget-html-content, .widget-html").first
    return image.evaluate(IMAGE_DIGEST), summary.inner_text()


# JavaScript that records, in the page, the shell requests sent since the last mark to the kernel
# of the notebook at the given path, such as a widget's comm message after a slider moves. The
# kernel sends a request's outputs and widget updates on IOPub before its "idle" status for that
# request (Jupyter messaging protocol). JupyterLab 4.6's kernel connection handles IOPub messages
# one at a time, in order. It awaits the comm handler, which in ipywidgets 8.1 resolves once the
# model has its new state, and emits iopubMessage after that. So once every request has its
# "idle" status, the page shows every update that those requests caused.
WATCH_KERNEL_REQUESTS = """(path) => {
    const panel = Array.from(window.jupyterapp.shell.widgets('main'))
        .find(widget => widget.context && widget.context.path === path);
    const kernel = panel.sessionContext.session.kernel;
    const requests = {sentSinceMark: 0, waiting: new Set()};
    kernel.anyMessage.connect((_, args) => {
        if (args.direction === 'send' && args.msg.channel === 'shell') {
            requests.sentSinceMark += 1;
            requests.waiting.add(args.msg.header.msg_id);
        }
    });
    kernel.iopubMessage.connect((_, message) => {
        if (message.header.msg_type === 'status' && message.content.execution_state === 'idle') {
            requests.waiting.delete(message.parent_header.msg_id);
        }
    });
    window.qlessonKernelRequests = requests;
}"""
MARK_KERNEL_REQUESTS = """() => {
    window.qlessonKernelRequests.sentSinceMark = 0;
    window.qlessonKernelRequests.waiting.clear();
}"""
KERNEL_REQUESTS_DONE = """() => window.qlessonKernelRequests.sentSinceMark > 0
    && window.qlessonKernelRequests.waiting.size === 0"""


def wait_for_explorer_update(page, explorer) -> tuple[tuple[str, str], bool]:
    """Wait until the kernel has handled every request sent since the mark, then return the explorer's state.

    The second value is False if the wait timed out after WIDGET_UPDATE_TIMEOUT_S. Call
    page.evaluate(MARK_KERNEL_REQUESTS) before the slider moves. The kernel sends the new image
    and the new summary as separate messages, both before it reports "idle".
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_function(KERNEL_REQUESTS_DONE, timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)
    except PlaywrightTimeoutError:
        return explorer_state(explorer), False
    return explorer_state(explorer), True


def move_slider(page, slider) -> None:
    """Focus the slider's first handle and press the arrow key that changes its value."""
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    value, maximum = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemax")
    at_maximum = value is not None and maximum is not None and float(value) >= float(maximum)
    page.keyboard.press("ArrowLeft" if at_maximum else "ArrowRight")


@pytest.mark.parametrize("item", LESSONS, ids=lesson_id)
def test_lesson_runs_in_jupyterlab(servers, lab_pages, item):
    language, path = item
    server = servers(language)
    # Count the cells of the server's copy, which the browser runs, in case the repository's file changed since.
    served = server.root / language / path.name
    assert served.exists(), f"{path.name} did not exist when the {language} JupyterLab started"
    notebook = read(served)
    code_cells = sum(1 for cell in notebook.cells if cell.cell_type == "code")
    widget_outputs = sum(
        1 for cell in notebook.cells for output in cell.get("outputs", []) if WIDGET_VIEW in output.get("data", {})
    )
    folder = screenshot_folder()
    started = time.monotonic()

    lab = lab_pages(language)
    page = lab.page
    try:
        lab.open(f"{language}/{path.name}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=NOTEBOOK_OPEN_TIMEOUT_MS)
        assert page.locator(".jp-Notebook").count() == 1, "JupyterLab opened more than this lesson"
        # Running cells before the kernel has started makes JupyterLab ask which kernel to use.
        server.wait_for_idle_kernel(f"{language}/{path.name}", NOTEBOOK_OPEN_TIMEOUT_MS / 1000)
        page.evaluate(WATCH_KERNEL_REQUESTS, f"{language}/{path.name}")
        click_menu_command(page, CLEAR_ALL_OUTPUTS)
        page.wait_for_function(
            """() => document.querySelectorAll('.jp-Notebook .jp-OutputArea-output').length === 0
                && Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))
                    .every(prompt => !/\\d/.test(prompt.textContent))""",
            timeout=NOTEBOOK_OPEN_TIMEOUT_MS,
        )
        click_menu_command(page, RUN_ALL_CELLS)
        wait_for_run_to_finish(page, code_cells)
        page.locator(".jp-Notebook .jp-Cell").first.scroll_into_view_if_needed()
        page.screenshot(path=str(folder / f"lab_{language}_{path.stem}_top.png"))
        figures = page.locator('.jp-Notebook .jp-OutputArea-output[data-mime-type="image/png"]')
        if figures.count():
            figures.first.scroll_into_view_if_needed()
            page.screenshot(path=str(folder / f"lab_{language}_{path.stem}_figure.png"))

        stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        stderr_texts = [stderr.nth(position).inner_text() for position in range(stderr.count())]
        missing_widgets = page.locator(".jp-OutputArea-output").filter(has_text="Error displaying widget").count()

        # A rendered widget output has no data-mime-type; its child is the widget's own element.
        views = page.locator(".jp-Notebook .jp-OutputArea-output > .jupyter-widgets")
        explorers = page.locator(".jp-Notebook .jp-OutputArea-output > .widget-vbox:has(img.widget-image)")
        explorer_reports = []
        for position in range(explorers.count()):
            explorer = explorers.nth(position)
            explorer.scroll_into_view_if_needed()
            # A disabled slider (noUiSlider marks it with the attribute "disabled") ignores the keyboard.
            sliders = explorer.locator(
                ".widget-slider:visible:not(:has(.noUi-target[disabled])), "
                ".widget-hslider:visible:not(:has(.noUi-target[disabled]))"
            )
            image = explorer.locator("img.widget-image").first
            image_width = image.evaluate("image => image.complete ? image.naturalWidth : 0")
            # Move each slider one step; together they must redraw both the heatmap and the summary.
            moves = []
            for slider in range(sliders.count()):
                before = explorer_state(explorer)
                page.evaluate(MARK_KERNEL_REQUESTS)
                move_slider(page, sliders.nth(slider))
                after, in_time = wait_for_explorer_update(page, explorer)
                moves.append({"image": after[0] != before[0], "summary": after[1] != before[1], "in_time": in_time})
            explorer_reports.append({"sliders": sliders.count(), "image_width": image_width, "moves": moves})
            explorer.screenshot(path=str(folder / f"lab_{language}_{path.stem}_explorer{position + 1}.png"))

        markdown = page.locator(".jp-Notebook .jp-MarkdownCell .jp-RenderedMarkdown")
        markdown_text = "\n".join(markdown.nth(position).inner_text() for position in range(markdown.count()))
        interface_text = page.locator("#jp-left-stack, #jp-main-statusbar").all_inner_texts()
        rendered_views = views.count()
    finally:
        lab.close_documents()
        server.shut_down_sessions()
    # This includes errors that the page raised before this lesson opened, if no earlier lesson reported them.
    page_errors = lab.take_errors()
    elapsed = time.monotonic() - started
    print(f"{language}/{path.stem}: opened, ran and checked in {elapsed:.1f} s")

    assert not stderr_texts, f"stderr or error output after Run All:\n" + "\n---\n".join(stderr_texts)
    assert not page_errors, f"JavaScript errors: {page_errors}"
    assert missing_widgets == 0, "a widget output shows 'Error displaying widget'"
    assert rendered_views == widget_outputs, f"{rendered_views} widget outputs rendered, the notebook stores {widget_outputs}"
    for number, report in enumerate(explorer_reports, start=1):
        assert report["sliders"] > 0, f"explorer {number} shows no enabled slider"
        assert report["image_width"] > 0, f"explorer {number} shows no image"
        for slider, move in enumerate(report["moves"], start=1):
            assert move["in_time"], (
                f"explorer {number}: waiting for the kernel to handle slider {slider}'s move timed out after "
                f"{WIDGET_UPDATE_TIMEOUT_S} s. See {folder}/lab_{language}_{path.stem}_explorer{number}.png")
            assert move["image"] or move["summary"], f"explorer {number}: slider {slider} changed neither image nor summary"
        assert any(move["image"] for move in report["moves"]), f"explorer {number}: no slider changed the heatmap"
        assert any(move["summary"] for move in report["moves"]), f"explorer {number}: no slider changed the summary"
    if language == "zh-TW":
        assert CJK.search(markdown_text), "the zh-TW lesson shows no Chinese text"
        assert CJK.search("\n".join(interface_text)), "the JupyterLab interface is not in Chinese"
    else:
        assert not CJK.search(markdown_text), "the English lesson shows Chinese text"
