"""Where a ConsumerGroup keeps its instances' logs, and that it leaves no temp dir behind."""

from __future__ import annotations

from labkit.group.supervisor import ConsumerGroup
from labkit.settings import load


def test_own_log_dir_is_removed_on_close():
    group = ConsumerGroup(load(), processes=False)
    (group.log_dir / "consumer-1.out").write_text("rebalance: assigned\n")
    assert group.logs("consumer-1", grep="rebalance") == "rebalance: assigned"
    group.close()
    assert not group.log_dir.exists()


def test_given_log_dir_is_kept(tmp_path):
    with ConsumerGroup(load(), processes=False, log_dir=tmp_path / "consumers") as group:
        (group.log_dir / "consumer-1.out").write_text("x\n")
    assert (tmp_path / "consumers" / "consumer-1.out").read_text() == "x\n"


def test_thread_members_leave_no_temp_dir_behind():
    """Share and KIP-848 groups are Members: 63 empty labkit-share-*/labkit-kip848-* dirs piled up in
    /tmp over one day of test runs before their close removed what their constructor made."""
    from labkit.group.members import Members

    class Idle(Members):
        NAME_PREFIX = "idle"

    group = Idle(load(), "some-group")
    log_dir = group.log_dir
    group.close()
    assert not log_dir.exists()
