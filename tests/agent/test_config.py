"""Config precedence and loud failure on unknown keys."""

import pytest

from agent.config import Config, ConfigError, load_config


def test_defaults_load_from_the_shipped_yaml():
    config = load_config()
    assert isinstance(config, Config)
    assert config.sandbox.backend == "bwrap" and config.policy.model == "qwen-coder-0.5b"


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sandbox:\n  workers: 4\npolicy:\n  top_p: 0.9\n")
    config = load_config(path, {"sandbox.workers": 1, "policy.model": None})
    assert config.sandbox.workers == 1  # flag beats file
    assert config.policy.top_p == 0.9  # file beats default
    assert config.policy.model == "qwen-coder-0.5b"  # unset flag changes nothing


@pytest.mark.parametrize("text, needle", [
    ("sandbox:\n  wokers: 4\n", "wokers"),
    ("sandbx:\n  workers: 4\n", "sandbx"),
    ("- a\n- b\n", "mapping"),
    ("sandbox: [\n", "YAML"),
])
def test_bad_files_name_the_problem(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle) as info:
        load_config(path)
    assert "bad.yaml" in str(info.value)


def test_unknown_override_key_raises():
    with pytest.raises(ConfigError, match="timeout"):
        load_config(None, {"sandbox.timeout": 3})


def test_a_value_a_settings_class_refuses_is_a_config_error():
    with pytest.raises(ConfigError, match=r"config\.selection: selection\.voters must be"):
        load_config(None, {"selection.voters": "everyone"})


def test_digest_changes_with_content():
    a, b = load_config(), load_config(None, {"sandbox.workers": 7})
    assert a.digest() == load_config().digest() and a.digest() != b.digest()


def _flat_keys(value, prefix=""):
    if isinstance(value, dict):
        out = set()
        for key, inner in value.items():
            out |= _flat_keys(inner, f"{prefix}{key}.") if inner else {f"{prefix}{key}"}
        return out
    return {prefix.rstrip(".")}


def test_shipped_yaml_equals_the_dataclass_defaults():
    """One source of defaults: the dataclasses. The YAML documents them and must not drift."""
    import dataclasses

    import yaml

    from agent.config import DEFAULT_CONFIG, _build

    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    assert _build(Config, data, "default.yaml") == Config()
    assert _flat_keys(data) == _flat_keys(dataclasses.asdict(Config()))  # every key written out


def test_every_strategy_setting_is_reachable_from_a_config():
    from agent.search.strategies import STRATEGIES

    config = load_config(None, {"search.mcts.length_normalise": False, "search.beam.width": 2})
    assert config.search.mcts.length_normalise is False and config.search.beam.width == 2
    for name, (_, settings_type) in STRATEGIES.items():
        assert type(config.search.strategy_settings(name)) is settings_type


def test_the_search_can_be_told_to_spend_its_whole_budget():
    from agent.wiring import build_settings

    assert build_settings(load_config(None, {}).search).stop_when_solved is True
    assert build_settings(load_config(None, {"search.stop_when_solved": False}).search).stop_when_solved is False



def test_the_search_stops_once_three_visible_solutions_agree_unless_told_otherwise():
    from agent.wiring import WiringError, build_settings

    assert build_settings(load_config(None, {}).search).stop_votes == 3
    assert build_settings(load_config(None, {"search.stop_votes": 1}).search).stop_votes == 1
    with pytest.raises(WiringError, match="search.stop_votes must be a positive integer"):
        build_settings(load_config(None, {"search.stop_votes": 0}).search)


def test_a_refinement_prompt_layout_the_format_lacks_is_refused_before_the_model_loads():
    from agent.wiring import WiringError, check_policy

    check_policy(load_config(None, {"policy.feedback_prompt": "conversation"}).policy)
    with pytest.raises(WiringError, match="policy.feedback_prompt must be message or conversation, got 'chat'"):
        check_policy(load_config(None, {"policy.feedback_prompt": "chat"}).policy)


@pytest.mark.parametrize("key, value, message", [
    ("bench.spend_budget", "maybe", "config.bench.spend_budget: expected true or false, got 'maybe'"),
    ("search.stop_votes", "3", "config.search.stop_votes: expected an integer, got '3'"),
    ("search.stop_votes", True, "config.search.stop_votes: expected an integer, got True"),
    ("policy.temperature", "hot", "config.policy.temperature: expected a number, got 'hot'"),
    ("bench.budgets", 5, "config.bench.budgets: expected a string, got 5"),
])
def test_a_setting_of_the_wrong_kind_is_refused_by_name(key, value, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, {key: value})
    assert str(error.value) == message


def test_settings_of_the_right_kind_pass_integers_as_numbers_and_null_where_allowed():
    from agent.config import config_from_dict

    config = config_from_dict({"policy": {"temperature": 1}, "search": {"budget_tokens": None},
                               "bench": {"anytime": False}})
    assert config.policy.temperature == 1 and config.search.budget_tokens is None and config.bench.anytime is False
    with pytest.raises(ConfigError, match=r"config.search.stop_votes: expected an integer, got None"):
        config_from_dict({"search": {"stop_votes": None}})


def test_a_setting_made_explicitly_may_be_null_where_a_flag_left_unset_is_not():
    config = load_config(None, {"search.budget_tokens": None}, {"search.rex.refine_min_tokens": None})
    assert config.search.budget_tokens == 6000  # an unset flag changes nothing
    assert config.search.rex.refine_min_tokens is None


def test_set_null_reaches_the_config_and_a_key_that_allows_no_null_is_refused():
    # `--set search.rex.refine_min_tokens=null` was dropped as an unset flag: the run kept 600
    from agent.cli import UsageError, load_config_or_exit

    config = load_config_or_exit(None, {}, ["search.rex.refine_min_tokens=null", "search.feedback=false"])
    assert config.search.rex.refine_min_tokens is None and config.search.feedback is False
    with pytest.raises(UsageError, match="stop_votes"):
        load_config_or_exit(None, {}, ["search.stop_votes=null"])
