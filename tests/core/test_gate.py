"""The gate: one allowlist of what a received config may set, bounded reads, opt-in code.

The allowlist is one table (runner.core.gate.ALLOWED), shown in docs/recipes-and-trust.md; a
key of the typed config is refused unless it is in that table, so a new config key is never
settable by a recipe by accident.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from pathlib import Path

import pytest
from omegaconf import MISSING

from runner.core import gate
from runner.core.config import Config, ModelConfig
from runner.recipes.check import RecipeError, check
from tests.conftest import ROOT

GOOD = "defaults:\n  - config\n  - override precision: int8\n  - _self_\n"


def config_keys(node: type = Config, prefix: str = "") -> list[str]:
    """Every leaf key of the typed config (a free-form dict is one leaf)."""
    out = []
    for name, hint in typing.get_type_hints(node).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if typing.get_origin(hint) in (typing.Union, type(int | None)) else hint
        key = f"{prefix}{name}"
        out += config_keys(hint, key + ".") if dataclasses.is_dataclass(hint) else [key]
    return out


def nested(key: str, value: object) -> dict:
    """{"a": {"b": value}} for "a.b"."""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value  # type: ignore[return-value]


def test_every_key_of_the_table_is_a_key_of_the_typed_config():
    keys = set(config_keys())
    assert [k for k in gate.allowed_keys() if k not in keys] == []
    assert len(gate.allowed_keys()) == len(set(gate.allowed_keys())) > 50


def test_every_config_key_outside_the_table_is_refused_in_one_line_naming_it():
    refused = [k for k in config_keys() if not gate.settable(k)]
    assert {"cache_dir", "latency.lock_dir", "model.path", "model.name", "target.ray",
            "target.slurm", "model.trust_pickle", "model.trust_remote_code", "tracking.mode",
            "summary.ship_below", "fault", "force"} <= set(refused)  # fmt: skip
    for key in refused:
        why = gate.settings_problem(nested(key, 1))
        assert why is not None and why.startswith(f"{key} is refused: ") and "\n" not in why
    for key in gate.allowed_keys():
        assert gate.settings_problem(nested(key, 1)) is None, key


def test_the_reason_names_what_the_key_would_choose():
    assert "receiver's decision" in gate.refusal("model.trust_remote_code")
    assert "launcher" in gate.refusal("target.ray.runtime_env.env_vars.BROWSER")
    assert "reads or writes" in gate.refusal("latency.lock_dir")
    assert "folder names" in gate.refusal("model.name")
    assert "decision rule" in gate.refusal("summary.ship_below")
    assert "docs/recipes-and-trust.md" in gate.refusal("torch_threads")


def test_interpolations_are_refused_anywhere_in_a_value():
    assert "interpolation" in gate.settings_problem({"model": {"keep_float": ["${a.b}"]}})
    assert "interpolation" in gate.settings_problem({"expected": {"p": "${oc.env:HOME}"}})
    assert gate.settings_problem({"expected": {"p": "/some/text"}}) is None  # data


def test_a_changed_value_on_a_key_outside_the_table_is_refused_after_composition():
    ref = {"model": {"name": "digits_cnn", "window": 1024}, "cache_dir": "outputs/cache"}
    assert gate.changed_problem(ref, ref) is None
    assert gate.changed_problem({**ref, "model": {"name": "x", "window": 1024}}, ref).startswith(
        "model.name is refused"
    )
    assert gate.changed_problem({**ref, "model": {"name": "digits_cnn", "window": 8}}, ref) is None
    assert gate.changed_problem({**ref, "extra": {"k": 1}}, ref).startswith("extra.k is refused")


@dataclasses.dataclass
class ShinyModel(ModelConfig):
    """The model group with one key more, as a future change would add it."""

    shiny: int = 0


@dataclasses.dataclass
class ShinyConfig(Config):
    model: ShinyModel = MISSING


def test_adding_a_config_key_does_not_make_it_settable_until_it_is_in_the_table(
    tmp_path, monkeypatch
):
    """A real composition with a typed config that has one key more (model.shiny): Hydra
    composes a recipe setting it, the gate refuses it; in the table, it passes."""
    from hydra.core.config_store import ConfigStore

    import runner.core.config as config

    def register() -> None:
        ConfigStore.instance().store(name="base_config", node=ShinyConfig)

    monkeypatch.setattr(config, "register_configs", register)
    (tmp_path / "r.yaml").write_text(GOOD + "model:\n  shiny: 3\n")
    with pytest.raises(RecipeError, match=r"r.yaml: model.shiny is refused"):
        check(tmp_path, "r")
    monkeypatch.setitem(gate.ALLOWED, "model", (*gate.ALLOWED["model"], "shiny"))
    assert check(tmp_path, "r").settings == {"model.shiny": 3}
    monkeypatch.undo()
    config.register_configs()


def test_the_docs_show_the_same_table():
    doc = (ROOT / "docs" / "recipes-and-trust.md").read_text()
    assert "## What a received recipe may set" in doc
    assert gate.allowlist_markdown() in doc


def test_received_files_are_read_bounded_and_never_through_a_link(tmp_path):
    (tmp_path / "big.json").write_text(json.dumps("x" * 100))
    with pytest.raises(gate.Refused, match="over 50"):
        gate.read_json(tmp_path / "big.json", max_bytes=50)
    (tmp_path / "secret.json").write_text('{"k": 1}')
    os.symlink(tmp_path / "secret.json", tmp_path / "link.json")
    with pytest.raises(gate.Refused, match="not a regular file"):
        gate.read_json(tmp_path / "link.json")
    assert gate.read_json(tmp_path / "link.json", follow=True) == {"k": 1}
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(gate.Refused, match="not a regular file"):
        gate.read_yaml(tmp_path / "fifo.yaml")  # a read would hang
    laughs = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    (tmp_path / "lol.yaml").write_text("\n".join(laughs) + "\n")
    with pytest.raises(gate.Refused, match="aliases expand past"):
        gate.read_yaml(tmp_path / "lol.yaml")


def custom_code_folder(folder: Path, marker: Path, where: str = "config") -> Path:
    """A save_pretrained-like folder whose auto_map names Python code that touches `marker`."""
    folder.mkdir(parents=True, exist_ok=True)
    code = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    (folder / "configuration_evil.py").write_text(code + "from transformers import "
                                                   "LlamaConfig as EvilConfig\n")  # fmt: skip
    (folder / "tokenization_evil.py").write_text(code)
    config = {"model_type": "llama" if where == "tokenizer" else "evil_custom",
              "architectures": ["LlamaForCausalLM"]}  # fmt: skip
    if where == "config":
        config["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig"}
    else:
        tok = {"auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}}
        (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("where", ["config", "tokenizer"])
def test_custom_code_in_a_model_folder_is_refused_unless_the_receiver_opts_in(tmp_path, where):
    marker = tmp_path / "pwned"
    folder = custom_code_folder(tmp_path / "m", marker, where)
    with pytest.raises(gate.Refused) as exc:
        gate.hf_folder(folder)
    msg = str(exc.value)
    assert "names custom code" in msg and "model.trust_remote_code=true" in msg
    assert "\n" not in msg and not marker.exists()
    assert gate.hf_folder(folder, trust_remote_code=True) == folder
