import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = "from sheafgraph.allocator import keep_freed_memory; print(keep_freed_memory())"


def probe(**env):
    # a fresh process: the setting is process-wide and must not change the allocator of the test run
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_takes_effect_on_glibc_and_can_be_turned_off():
    import platform

    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert probe(SHEAFGRAPH_KEEP_HEAP="1") == expected
    assert probe(SHEAFGRAPH_KEEP_HEAP="0") == "False"


RESTART_PROBE = ("import os, sys; from sheafgraph.allocator import restart_without_thread_cache; "
                 "print(sys.argv[1:], os.getpid(), os.environ.get('GLIBC_TUNABLES')); restart_without_thread_cache()")


def restarts(**env):
    """The lines a fresh process prints before (and, when it starts again, after) restart_without_thread_cache."""
    env = {**{k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}, **env}
    done = subprocess.run([sys.executable, "-c", RESTART_PROBE, "a", "b c"], capture_output=True, text=True,
                          check=True, env=env)
    return [line.rsplit(" ", 2) for line in done.stdout.strip().splitlines()]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's tunables")
def test_the_command_starts_once_more_with_the_thread_cache_off():
    import platform

    if platform.libc_ver()[0] != "glibc":
        assert len(restarts()) == 1
        return
    (args, pid, before), (args_again, pid_again, after) = restarts(SHEAFGRAPH_KEEP_HEAP="1")
    assert args == args_again == "['a', 'b c']" and pid == pid_again                    # same process, same arguments
    assert before == "None" and after == "glibc.malloc.tcache_count=0"
    kept = restarts(GLIBC_TUNABLES="glibc.malloc.hugetlb=0")                           # the user's tunables kept
    assert [line[2] for line in kept] == ["glibc.malloc.hugetlb=0",
                                          "glibc.malloc.hugetlb=0:glibc.malloc.tcache_count=0"]
    assert len(restarts(GLIBC_TUNABLES="glibc.malloc.tcache_count=0")) == 1           # already off: no restart
    assert len(restarts(SHEAFGRAPH_KEEP_HEAP="0")) == 1                                # heap not kept: no restart


def test_the_console_command_starts_through_entry():
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    assert config["options.entry_points"]["console_scripts"].strip() == "sheafgraph = sheafgraph.cli:entry"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's tunables")
def test_a_failed_restart_goes_on_with_the_environment_as_it_was(monkeypatch):
    import platform

    from sheafgraph import allocator

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's tunables")
    tried = []

    def cannot(path, args):
        tried.append(os.environ["GLIBC_TUNABLES"])
        raise OSError("exec refused")
    monkeypatch.setattr(os, "execv", cannot)
    monkeypatch.setenv("SHEAFGRAPH_KEEP_HEAP", "1")
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    allocator.restart_without_thread_cache()
    assert tried == ["glibc.malloc.tcache_count=0"] and "GLIBC_TUNABLES" not in os.environ
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0")
    allocator.restart_without_thread_cache()
    assert tried[1:] == ["glibc.malloc.hugetlb=0:glibc.malloc.tcache_count=0"]
    assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=0"
