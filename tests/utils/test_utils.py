import pytest
import torch

from sheafgraph.utils import load_checkpoint, save_checkpoint, seed_everything


def test_checkpoint_round_trip_and_atomic_overwrite(tmp_path):
    path = tmp_path / "run" / "ckpt.pt"
    model = torch.nn.Linear(3, 2)
    save_checkpoint({"model": model.state_dict(), "epoch": 3}, path)
    save_checkpoint({"model": model.state_dict(), "epoch": 4}, path)
    state = load_checkpoint(path)
    assert state["epoch"] == 4
    torch.testing.assert_close(state["model"]["weight"], model.weight.detach())
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]        # no temporary files left behind


def test_failed_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint({"epoch": 1}, path)
    with pytest.raises(Exception):
        save_checkpoint({"bad": lambda: 0}, path)                         # cannot be pickled
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not read"):
        load_checkpoint(tmp_path / "junk.pt")


def test_seed_everything_is_deterministic():
    g1 = seed_everything(7)
    a = torch.randn(3), torch.randn(2, generator=g1)
    g2 = seed_everything(7)
    b = torch.randn(3), torch.randn(2, generator=g2)
    torch.testing.assert_close(a, b)
    with pytest.raises(TypeError):
        seed_everything("7")


def test_orphans_of_a_killed_write_are_removed_on_the_next_save(tmp_path):
    path = tmp_path / "last.pt"
    orphan, other = tmp_path / ".last.pt.k1ll3d.tmp", tmp_path / ".other.pt.x.tmp"
    orphan.write_bytes(b"half a checkpoint")
    other.write_bytes(b"another checkpoint's")
    save_checkpoint({"epoch": 1}, path)
    assert not orphan.exists() and other.exists() and load_checkpoint(path)["epoch"] == 1


def test_writable_file_is_checked_before_work(tmp_path):
    from sheafgraph.utils.checks import writable_file
    assert writable_file(tmp_path / "new" / "out.json", "--json") == tmp_path / "new" / "out.json"
    assert (tmp_path / "new").is_dir()
    with pytest.raises(IsADirectoryError, match="--json .* is a folder"):
        writable_file(tmp_path, "--json")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(PermissionError, match="--out: cannot create the folder"):
        writable_file(tmp_path / "afile" / "x.smi", "--out")


def test_auto_threads_take_the_idle_cores(monkeypatch):
    from sheafgraph.utils import device
    cores = device.os.sched_getaffinity(0)
    assert 0.0 <= device._busy_cores(cores, 0.05) <= len(cores)                   # read from /proc/stat
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    for busy, expected in ((0.0, 4), (0.4, 4), (1.6, 2), (3.9, 1), (12.0, 1)):
        monkeypatch.setattr(device, "_busy_cores", lambda cores, seconds, busy=busy: busy)
        assert device.idle_cores() == expected
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")                  # torchrun: the idle cores are shared
    assert device.idle_cores() == 1
    monkeypatch.setattr(device, "_busy_cores", lambda cores, seconds: float("nan"))   # no /proc/stat: load average
    monkeypatch.setattr("os.getloadavg", lambda: (0.0, 0.0, 0.0))
    assert device.idle_cores() == 2 and device.set_threads("auto") == 2 == torch.get_num_threads()
    assert device.set_threads(1) == 1 == torch.get_num_threads()
    with pytest.raises(ValueError, match="--threads must be a positive int, got 0"):
        device.set_threads(0)
