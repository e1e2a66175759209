"""Shared pytest fixtures: random-weight checkpoints of each family (built once per session, in a tmp dir, with
the same builder as the parity fixtures) and their fp32 exports. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from lance_e5_train.fixtures import FIXTURES, build_checkpoint

FAMILY_FIXTURES = {spec.family: spec for spec in FIXTURES if spec.name.startswith("tiny-")}


def _quiet_transformers() -> None:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _quiet_transformers()
    root = tmp_path_factory.mktemp("checkpoints")
    built = {}
    for family, spec in FAMILY_FIXTURES.items():
        build_checkpoint(spec, root / spec.name)
        built[family] = root / spec.name
    return built


@pytest.fixture(scope="session")
def exported(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from lance_e5_train.export import ExportOptions, export_checkpoint

    root = tmp_path_factory.mktemp("models")
    out = {}
    for family, checkpoint in checkpoints.items():
        out[family] = root / family
        export_checkpoint(ExportOptions(checkpoint=checkpoint, out=out[family]), log=lambda _message: None)
    return out
