"""The project lock: one holder at a time, named in the refusal, and gone the moment its holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reelmake import lock

HOLD = "import sys, time; from pathlib import Path; from reelmake import lock; lock.acquire(Path(sys.argv[1])); print('held', flush=True); time.sleep(600)"  # noqa: E501


def hold_in_another_process(project: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(project)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_held_project_is_refused_naming_its_holder_until_the_holder_is_killed(tmp_path: Path) -> None:
    holder = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(lock.ProjectBusy) as busy:
            lock.acquire(tmp_path)
        with pytest.raises(lock.ProjectBusy):
            lock.ensure_free(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert str(busy.value) == (
        f"this project is being rendered (pid {holder.pid}); wait for it or stop it, then render again."
    )
    with lock.project_lock(tmp_path):  # the kernel dropped the dead holder's lock: no unlock needed
        lock.acquire(tmp_path)  # again in the same process: a no-op
        with lock.project_lock(tmp_path):
            pass
        assert (tmp_path / lock.LOCK_FILE).read_text().strip() == str(os.getpid())
        refused = subprocess.run([sys.executable, "-c", HOLD, str(tmp_path)], capture_output=True, text=True)
        assert "ProjectBusy" in refused.stderr  # still held: the inner block did not release it
    lock.ensure_free(tmp_path)
