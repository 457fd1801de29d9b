import datetime as dt

import pytest

from crm.sync.conflict import NO_BASE, PolicyTable, conflict_policy_set, policy_table_for, resolve_field

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
EARLIER, LATER = T0 - dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=5)


def resolve(policy, base="old", local="mine", remote="theirs", local_at=T0, remote_at=LATER, field="city"):
    return resolve_field(field=field, base=base, local=local, local_changed_at=local_at, remote=remote,
                         remote_changed_at=remote_at, policy=policy)


def test_only_one_side_changed_is_not_a_conflict():
    r = resolve("local_wins", local="old")
    assert (r.value, r.winner, r.conflict) == ("theirs", "remote", False)
    r = resolve("remote_wins", remote="old")
    assert (r.value, r.winner, r.conflict) == ("mine", "local", False)
    assert resolve("remote_wins", local="same", remote="same").winner == "same"


@pytest.mark.parametrize(
    ("policy", "local_at", "remote_at", "winner"),
    [
        ("remote_wins", LATER, EARLIER, "remote"),
        ("local_wins", EARLIER, LATER, "local"),
        ("newest_wins", EARLIER, LATER, "remote"),
        ("newest_wins", LATER, EARLIER, "local"),
        ("newest_wins", T0, T0, "remote"),  # tie → remote
        ("newest_wins", LATER, None, "remote"),  # no remote timestamp: it is arriving now
    ],
)
def test_both_changed_policy_decides(policy, local_at, remote_at, winner):
    r = resolve(policy, local_at=local_at, remote_at=remote_at)
    assert r.conflict and r.winner == winner
    assert r.value == ("mine" if winner == "local" else "theirs")


def test_tags_merge_as_sets_three_way():
    r = resolve("merge_sets", field="tags", base=["a", "b"], local=["a", "b", "local-new"], remote=["b", "remote-new"])
    # "a" was removed remotely, each side added one
    assert r.winner == "merged" and r.conflict and r.value == ["b", "local-new", "remote-new"]


@pytest.mark.parametrize(("local", "remote"), [(False, True), (True, False)])
def test_never_synced_a_flag_set_on_either_side_wins_over_the_others_default(local, remote):
    # e.g. DND: a local default False must not outweigh a remote opt-out with a later local edit time (nor a
    # remote default the local one)
    r = resolve("newest_wins", field="dnd_sms", base=NO_BASE, local=local, remote=remote, local_at=LATER,
                remote_at=EARLIER)
    assert (r.value, r.conflict) == (True, False)
    assert resolve("newest_wins", field="n", base=NO_BASE, local=0, remote=5, local_at=LATER,
                   remote_at=EARLIER).conflict  # a number's 0 is a value


def test_never_synced_empty_side_takes_the_other():
    assert resolve("local_wins", base=NO_BASE, local="").winner == "remote"
    assert not resolve("local_wins", base=NO_BASE, local="").conflict
    r = resolve("local_wins", base=NO_BASE)
    assert r.conflict and r.winner == "local"


def test_policy_table_defaults_and_overrides(org_factory, db):
    org = org_factory()
    table = policy_table_for(organization=org, provider="ghl", account_id="loc1")
    assert table.policy_for("tags") == "merge_sets" and table.policy_for("city") == "newest_wins"
    conflict_policy_set(organization=org, provider="ghl", account_id="loc1", field="*", policy="remote_wins")
    conflict_policy_set(organization=org, provider="ghl", account_id="loc1", field="email", policy="local_wins")
    table = policy_table_for(organization=org, provider="ghl", account_id="loc1")
    assert table.policy_for("city") == "remote_wins" and table.policy_for("email") == "local_wins"
    assert PolicyTable({"tags": "remote_wins"}).policy_for("tags") == "remote_wins"
    with pytest.raises(ValueError):
        conflict_policy_set(organization=org, provider="ghl", account_id="loc1", field="x", policy="coin_flip")
