"""Goal state -> plan: the validation rules of §9.1 and the processing order of §9.8."""

from __future__ import annotations

import json
from typing import Any

from waagent.common import features
from waagent.common.models.extensions import (
    DependsOn,
    DependsOnExtension,
    ExtensionsGoalState,
    Plugin,
    PluginSettings,
)
from waagent.extd.plan import build_plan
from waagent.wire.settings import runtime_settings


def settings_text(
    public: Any = None, protected: str | None = None, thumb: str | None = None
) -> str:
    handler: dict[str, Any] = {"publicSettings": public}
    if protected is not None:
        handler["protectedSettings"] = protected
        handler["protectedSettingsCertThumbprint"] = thumb
    return json.dumps({"runtimeSettings": [{"handlerSettings": handler}]})


def plugin(name: str, state: str = "enabled", version: str = "1.0") -> Plugin:
    return Plugin(name=name, version=version, state=state, location=f"http://x/{name}")


def single(
    name: str,
    seq: str | None = "0",
    level: str | None = None,
    deps: tuple[str, ...] = (),
    text: str | None = None,
    version: str = "1.0",
) -> PluginSettings:
    depends = ()
    if level is not None:
        depends = (
            DependsOn(level=level, extensions=tuple(DependsOnExtension(handler=d) for d in deps)),
        )
    return PluginSettings(
        name=name,
        version=version,
        depends_on=depends,
        runtime_settings=(
            runtime_settings(seq, None, None, text if text is not None else settings_text()),
        ),
    )


def goal_state(
    plugins: list[Plugin], settings: list[PluginSettings], **fields: Any
) -> ExtensionsGoalState:
    return ExtensionsGoalState(
        id="incarnation_2",
        incarnation="2",
        plugins=tuple(plugins),
        plugin_settings=tuple(settings),
        **fields,
    )


def test_a_handler_with_settings_becomes_one_item_with_its_settings() -> None:
    text = settings_text({"a": 1}, "MIIB", "ABCD")
    plan = build_plan(goal_state([plugin("P.A")], [single("P.A", "3", text=text)]))
    (item,) = plan.items
    assert item.handler.error is None
    assert item.extension is not None
    assert (item.extension.seq_no, item.extension.public_settings) == (3, {"a": 1})
    assert item.extension.handler_settings() == {
        "publicSettings": {"a": 1},
        "protectedSettings": "MIIB",
        "protectedSettingsCertThumbprint": "ABCD",
    }
    assert plan.svd_seq_no == "2"


def test_settings_are_matched_case_insensitively_and_their_version_must_match() -> None:
    plan = build_plan(
        goal_state([plugin("P.A"), plugin("P.B")], [single("p.a"), single("P.B", version="2.0")])
    )
    a, b = plan.handlers
    assert a.error is None and a.extensions
    assert b.error is not None and "Version Mismatch" in b.error


def test_a_handler_without_settings_is_still_processed() -> None:
    plan = build_plan(goal_state([plugin("P.A")], []))
    (item,) = plan.items
    assert item.extension is None and item.handler.error is None


def test_an_empty_or_unknown_state_marks_the_handler_invalid() -> None:
    plan = build_plan(goal_state([plugin("P.A", state=""), plugin("P.B", state="sleeping")], []))
    assert plan.handlers[0].error == "Received empty Extensions.Plugins.Plugin.state"
    assert plan.handlers[1].error == "Unknown ext handler state 'sleeping'"


def test_settings_json_that_does_not_parse_keeps_the_seq_for_the_status() -> None:
    plan = build_plan(
        goal_state([plugin("P.A")], [single("P.A", "7", text='{"runtimeSettings": [')])
    )
    handler = plan.handlers[0]
    assert handler.error is not None and handler.error.startswith("the settings are not valid JSON")
    assert handler.extensions[0].seq_no == 7


def test_two_runtime_settings_or_a_missing_seq_no_are_errors() -> None:
    twice = PluginSettings(
        name="P.A",
        version="1.0",
        runtime_settings=(
            runtime_settings("0", None, None, "{}"),
            runtime_settings("1", None, None, "{}"),
        ),
    )
    plan = build_plan(goal_state([plugin("P.A"), plugin("P.B")], [twice, single("P.B", seq=None)]))
    assert plan.handlers[0].error == "2 RuntimeSettings for one handler"
    assert plan.handlers[1].error == "seqNo of P.B is missing"


def test_multi_config_extensions_each_need_a_name_and_get_their_own_level() -> None:
    settings = PluginSettings(
        name="P.M",
        version="1.0",
        depends_on=(DependsOn(level="2", name="second"),),
        extension_runtime_settings=(
            runtime_settings("1", "first", None, settings_text()),
            runtime_settings("2", "second", "disabled", settings_text()),
        ),
    )
    plan = build_plan(goal_state([plugin("P.M")], [settings]))
    handler = plan.handlers[0]
    assert handler.multi_config and handler.error is None
    first, second = handler.extensions
    assert (first.name, first.level, first.state) == ("first", 0, "enabled")
    assert (second.name, second.level, second.state) == ("second", 2, "disabled")
    # The disabled extension is a removal: it runs first.
    assert [i.key for i in plan.items] == [("p.m", "second"), ("p.m", "first")]


def test_removals_run_first_in_reverse_dependency_order_then_the_rest_by_level() -> None:
    plugins = [plugin("P.A"), plugin("P.B", "uninstall"), plugin("P.C"), plugin("P.D", "uninstall")]
    settings = [
        single("P.A", level="2"),
        single("P.B", level="1"),
        single("P.C", level="1"),
        single("P.D", level="3"),
    ]
    plan = build_plan(goal_state(plugins, settings))
    assert [i.handler.name for i in plan.items] == ["P.D", "P.B", "P.C", "P.A"]
    assert plan.items[3].depends_on == (("p.c", None),)


def test_a_named_dependency_is_ordered_first_even_against_the_levels() -> None:
    plugins = [plugin("P.A"), plugin("P.B")]
    plan = build_plan(
        goal_state(plugins, [single("P.A", level="0", deps=("P.B",)), single("P.B", level="1")])
    )
    assert [i.handler.name for i in plan.items] == ["P.B", "P.A"]


def test_a_dependency_cycle_is_an_error_on_the_handlers_in_it_only() -> None:
    plugins = [plugin("P.A"), plugin("P.B"), plugin("P.C")]
    settings = [
        single("P.A", level="1", deps=("P.B",)),
        single("P.B", level="1", deps=("P.A",)),
        single("P.C"),
    ]
    plan = build_plan(goal_state(plugins, settings))
    errors = {h.name: h.error for h in plan.handlers}
    assert errors["P.A"] == "dependsOn cycle: P.A -> P.B -> P.A"
    assert errors["P.B"] == "dependsOn cycle: P.A -> P.B -> P.A"
    assert errors["P.C"] is None


def test_unsupported_required_features_fail_the_goal_state() -> None:
    required = ("MultipleExtensionsPerHandler", "FancyNewThing")
    plan = build_plan(goal_state([plugin("P.A")], [], required_features=required))
    assert plan.unsupported_features == ("FancyNewThing",)


def test_versioning_governance_is_unsupported_as_wire_never_announces_it() -> None:
    """One place decides (common/features.py): what wire does not announce fails the goal state."""
    plan = build_plan(goal_state([], [], required_features=("VersioningGovernance",)))
    assert plan.unsupported_features == ("VersioningGovernance",)
    assert "VersioningGovernance" not in features.announced(fast_track=True)


def test_protected_settings_for_a_missing_certificate_are_an_error() -> None:
    text = settings_text({}, "MIIB", "abcd")
    plan = build_plan(
        goal_state([plugin("P.A")], [single("P.A", text=text)]), certificates=frozenset({"EF01"})
    )
    assert plan.handlers[0].error == (
        "the protectedSettings of P.A are encrypted for certificate ABCD, which this VM does not have"
    )
    fine = build_plan(
        goal_state([plugin("P.A")], [single("P.A", text=text)]), certificates=frozenset({"ABCD"})
    )
    assert fine.handlers[0].error is None


def test_plugins_without_name_or_version_and_duplicates_are_skipped() -> None:
    plan = build_plan(goal_state([plugin("P.A"), Plugin(name="", version="1"), plugin("p.a")], []))
    assert [h.name for h in plan.handlers] == ["P.A"]
    assert len(plan.skipped) == 2


def nested(depth: int) -> str:
    """A settings document whose publicSettings nest `depth` lists deep."""
    public = "[" * depth + "]" * depth
    return '{"runtimeSettings": [{"handlerSettings": {"publicSettings": ' + public + "}}]}"


def test_settings_nested_5000_deep_are_an_error_on_their_handler_alone() -> None:
    plan = build_plan(
        goal_state(
            [plugin("P.Deep"), plugin("P.Fine")],
            [single("P.Deep", "4", text=nested(5000)), single("P.Fine")],
        )
    )
    deep, fine = plan.handlers
    assert deep.error == "the settings are nested more than 100 levels deep"
    assert deep.extensions[0].seq_no == 4
    assert fine.error is None and len(plan.items) == 2


def test_settings_within_the_depth_limit_are_kept() -> None:
    plan = build_plan(goal_state([plugin("P.A")], [single("P.A", text=nested(90))]))
    assert plan.handlers[0].error is None


def test_a_huge_bad_value_is_quoted_in_a_short_message() -> None:
    plan = build_plan(goal_state([plugin("P.A")], [single("P.A", seq="9" * 5000 + "x")]))
    error = plan.handlers[0].error
    assert error is not None and error.startswith("seqNo of P.A '99999")
    assert "(5001 characters) is not a number" in error and len(error) < 200


def test_a_name_ending_in_a_newline_is_not_a_name() -> None:
    plan = build_plan(goal_state([plugin("Contoso.X\n"), plugin("Contoso.Y")], []))
    assert [h.name for h in plan.handlers] == ["Contoso.Y"]
    assert plan.skipped == ("Contoso.X\n",)


def test_an_extension_name_ending_in_a_newline_is_an_error() -> None:
    runtime = runtime_settings("0", "first\n", None, settings_text())
    settings = PluginSettings(name="P.A", version="1.0", extension_runtime_settings=(runtime,))
    plan = build_plan(goal_state([plugin("P.A")], [settings]))
    assert plan.handlers[0].error == "extension name 'first\\n' is not a valid name"
