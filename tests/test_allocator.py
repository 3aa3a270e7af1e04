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


def test_the_console_command_starts_through_entry():
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    assert config["options.entry_points"]["console_scripts"].strip() == "sheafgraph = sheafgraph.cli:entry"
