"""A throwaway JupyterLab server for the browser tests: loopback only, random token, always cleaned up.

Isolation is the point. The server runs on ``127.0.0.1`` on a free port with a fresh random token,
serves a *copy* of ``notebooks/`` (the committed labs are never modified, even by autosave), and
gets its own Jupyter config, data, runtime and IPython directories, so nothing in the user's
``~/.jupyter`` (a workspace, a theme, a startup script, another ``python3`` kernelspec) changes what
the test sees. The kernelspec it writes runs *this* interpreter, exactly like nbval's
``--nbval-current-env``.

The kernel environment is the lab's offline world: no ``OPENAI_*`` variable (so day6 talks to its
embedded backend), no ``DAY6_*`` variable (in particular no ``DAY6_STATIC``: that switch makes
panels draw a static figure for nbval, and here the live widgets are what we test), plus the rest
of :data:`day6._notebooks.KERNEL_ENV` so outputs match what ``make notebooks`` produces.

Cleanup: :meth:`LabServer.stop` shuts every kernel down through the REST API (jupyter_client
starts kernels in their own session, so signalling the server's process group would not reach
them), then sends SIGTERM to the server's process group, then SIGKILL after a grace period. If
the test process itself is killed, Linux's parent-death signal stops the server (and the server
its kernels); an idle server also exits on its own after 15 minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from day6._notebooks import KERNEL_ENV

STARTUP_TIMEOUT = 90.0
"""Seconds JupyterLab may take to answer ``/api/status`` (a cold start on 2 busy cores is ~5 s)."""

STOP_GRACE = 10.0
"""Seconds between SIGTERM and SIGKILL when stopping the server."""

# JupyterLab user settings that make the DOM checkable and keep the browser offline.
_USER_SETTINGS: Mapping[str, Mapping[str, Any]] = {
    # Every cell attached to the DOM: with windowing, off-screen cells (and their errors) would be
    # invisible to the checks.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # No news feed and no update check: both would contact jupyter.org.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # The served copy is throwaway, but saving would also rewrite its jupytext pair: pointless I/O.
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
}

# Sibling folders a lab may read relative to itself (``../exercises/...``), linked next to the copy.
_SIBLINGS = ("exercises", "solutions")


def _not_lab_material(folder: str, names: list[str]) -> set[str]:
    """What the copy skips: checkpoints, caches, and anything not a plain file or folder (such as the
    ``kernel-ipc-*`` sockets a kernel with IPC transport leaves next to a notebook while it runs)."""
    skipped = {".ipynb_checkpoints", "__pycache__"}
    for name in names:
        path = Path(folder, name)
        if not (path.is_file() or path.is_dir()) or path.is_symlink():
            skipped.add(name)
    return skipped


def _exit_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the test process dies, even by SIGKILL.

    ``stop()`` covers every orderly exit (a failure, a timeout, Ctrl-C); this covers the disorderly
    one, so a killed test run never leaves a Lab server behind. Elsewhere it is a no-op, and the
    server's own idle shutdown (see ``_prepare``) is the last resort.
    """
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the server is told not to fall back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def lab_environment(base: Mapping[str, str], home: Path) -> dict[str, str]:
    """The server's (and so every kernel's) environment: offline backend, live widgets, isolated dirs."""
    env = {
        key: value
        for key, value in base.items()
        if not key.upper().startswith(("OPENAI_", "DAY6_", "JUPYTER", "IPYTHONDIR", "JPY_"))
    }
    env.update({key: value for key, value in KERNEL_ENV.items() if key != "DAY6_STATIC"})
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "IPYTHONDIR": str(home / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class LabServerError(RuntimeError):
    """JupyterLab did not start, or stopped answering."""


class LabServer:
    """``jupyter lab`` on 127.0.0.1 serving a copy of a notebooks folder; use as a context manager.

    ``url`` is the base URL (no token in it); ``token`` authenticates. The server log is kept in
    ``home/server.log`` and quoted, with the token redacted, when startup fails.
    """

    def __init__(self, *, notebooks: Path, home: Path, jupyter: Path | None = None) -> None:
        self.home = home
        self.root = home / "work" / notebooks.name
        self.token = secrets.token_hex(24)
        self.port = 0
        self._notebooks = notebooks
        self._jupyter = jupyter or Path(sys.executable).with_name("jupyter")
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = home / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id (also its process group id), while it runs."""
        return None if self._process is None else self._process.pid

    def __enter__(self) -> LabServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Prepare the isolated directories, launch the server and wait until ``/api/status`` answers."""
        self._prepare()
        for _ in range(3):  # a port taken between free_port() and bind() is retried, nothing else
            self.port = free_port()
            self._launch()
            try:
                self._wait_ready()
                return
            except _PortTaken:
                self._terminate()
        raise LabServerError(f"could not bind a free port after 3 attempts\n{self.log_tail()}")

    def stop(self) -> None:
        """Shut kernels down, then the server (SIGTERM, then SIGKILL to its process group)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self.shutdown_kernels()
        self._terminate()

    def _prepare(self) -> None:
        for name in ("config", "data", "runtime", "ipython", "settings", "workspaces"):
            (self.home / name).mkdir(parents=True, exist_ok=True)
        shutil.copytree(self._notebooks, self.root, ignore=_not_lab_material)
        for sibling in _SIBLINGS:
            source = self._notebooks.parent / sibling
            if source.is_dir():
                (self.root.parent / sibling).symlink_to(source.resolve(), target_is_directory=True)
        kernel_dir = self.home / "data" / "kernels" / "python3"
        kernel_dir.mkdir(parents=True)
        spec = {
            "argv": [
                sys.executable,
                "-Xfrozen_modules=off",
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ],
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "metadata": {"debugger": False},
        }
        (kernel_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        server_config = {
            # No terminals, and no language-server discovery (it shells out to npm): neither is tested.
            "ServerApp": {
                "terminals_enabled": False,
                "jpserver_extensions": {"jupyter_lsp": False},
                # Last resort against an orphaned server: exit after 15 idle minutes.
                "shutdown_no_activity_timeout": 900,
            },
            "LabApp": {
                "user_settings_dir": str(self.home / "settings"),
                "workspaces_dir": str(self.home / "workspaces"),
                "news_url": None,  # None (not ""): no announcements handler at all
                "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                "extension_manager": "readonly",  # the PyPI manager would query pypi.org
                "expose_app_in_browser": True,  # window.jupyterapp, to read the kernel status
            },
        }
        (self.home / "config" / "jupyter_server_config.json").write_text(json.dumps(server_config, indent=1))
        for plugin, values in _USER_SETTINGS.items():
            path = self.home / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))

    def _launch(self) -> None:
        command = [
            str(self._jupyter),
            "lab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
        ]
        log = self._log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                command,
                cwd=self.root,
                env=lab_environment(os.environ, self.home),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() can signal all of it
                preexec_fn=_exit_with_parent,
            )
        finally:
            log.close()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log_tail()
                if "already in use" in tail or "Address already in use" in tail:
                    raise _PortTaken
                raise LabServerError(f"jupyter lab exited with status {self._process.returncode}\n{tail}")
            status = self._request("GET", "/api/status", timeout=2.0)
            if status is not None:
                return
            time.sleep(0.2)  # polling interval while the server boots, not a guess at readiness
        raise LabServerError(
            f"jupyter lab did not answer /api/status within {STARTUP_TIMEOUT:.0f} s\n{self.log_tail()}"
        )

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
            if process.poll() is not None:
                break
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        # Anything the server left in its group (it started it) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_GRACE)

    # -- REST ----------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, timeout: float) -> Any:
        """JSON from the server's REST API, or ``None`` when it does not answer (yet)."""
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
        try:
            with opener.open(request, timeout=timeout) as response:
                body = response.read()
        except (urllib.error.URLError, OSError):
            return None
        return json.loads(body) if body else {}

    def kernels(self) -> list[dict[str, Any]]:
        """The running kernels, as ``/api/kernels`` reports them (id, execution_state, ...)."""
        kernels = self._request("GET", "/api/kernels", timeout=5.0)
        return list(kernels) if isinstance(kernels, list) else []

    def shutdown_kernels(self) -> None:
        """Stop every running kernel (between labs, so at most one lab kernel uses the CPU)."""
        for kernel in self.kernels():
            self._request("DELETE", f"/api/kernels/{kernel['id']}", timeout=STOP_GRACE)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server log, token redacted."""
        try:
            text = self._log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        tail = "\n".join(text.splitlines()[-lines:])
        return tail.replace(self.token, "<token>")


class _PortTaken(Exception):
    """The chosen port was grabbed by someone else before the server bound it."""
