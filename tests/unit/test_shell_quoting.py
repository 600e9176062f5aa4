"""Names from outside (a model directory named ``m;touch PWNED;x``, ``a"b``, ``a::b``, ``数据``) escaped wherever
they are written: the printed curl line (pasted into bash, it runs curl and nothing else), TF Serving's
``models.config`` (parsed back with protobuf's text_format), REST URLs, test ids and counterexample file names."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import subprocess
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from pytest_savedmodel._names import file_slug, id_part, proto_text_string, shell_line, url_segment
from pytest_savedmodel.counterexample import file_name, reproduce_block
from pytest_savedmodel.errors import ServerStartError
from pytest_savedmodel.runners.rest import RestRunner
from pytest_savedmodel.serving.launcher import ModelServer, ServedModel, models_config
from pytest_savedmodel.spec import SignatureSpec, TensorSpec, dtype_by_name

HOSTILE = [
    "m;touch PWNED;x",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a'b\"c; touch PWNED",
    "line1\ntouch PWNED\n",
    "tab\there|touch PWNED&",
    "back\\slash > PWNED",
    "数据-é",
    "..",
]


def _sig(key: str = "serving_default") -> SignatureSpec:
    x = TensorSpec("x", dtype_by_name("float32"), (None,))
    return SignatureSpec(key, "tensorflow/serving/predict", {"x": x}, {"y": x})


def _stub_curl(tmp_path: Path) -> tuple[Path, Path]:
    """A ``curl`` that writes its arguments NUL-separated (one call per file) and does nothing else."""
    bindir, calls = tmp_path / "bin", tmp_path / "calls"
    bindir.mkdir()
    calls.mkdir()
    curl = bindir / "curl"
    curl.write_text(f'#!/bin/bash\nprintf "%s\\0" "$@" > "$(mktemp "{calls}/call.XXXXXX")"\n')
    curl.chmod(curl.stat().st_mode | stat.S_IEXEC)
    return bindir, calls


def _paste(line: str, tmp_path: Path) -> list[list[str]]:
    """Run ``line`` with bash as a user pasting it would (real coreutils on PATH, the stub curl first);
    returns the argv of every curl call and checks nothing else happened in the working directory."""
    bindir, calls = _stub_curl(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}
    done = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=30)
    assert sorted(p.name for p in work.iterdir()) == [], "the pasted line ran more than curl"
    assert done.returncode == 0, done.stderr
    return [c.read_bytes().decode().split("\0")[:-1] for c in sorted(calls.iterdir())]


@pytest.mark.parametrize("name", HOSTILE)
def test_the_printed_curl_line_runs_curl_alone_with_the_exact_url_and_body(name: str, tmp_path: Path) -> None:
    runner = RestRunner(_sig(f"sig {name}"), base_url="http://127.0.0.1:9", model_name=name, version_label=name)
    features = {"x": np.array([1.5, -2.0], np.float32)}
    line = runner.curl(features)
    assert "\n" not in line and line.startswith("curl -X POST ")
    argv = _paste(line, tmp_path)
    assert argv == [["-X", "POST", runner.url, "-H", "Content-Type: application/json", "-d", runner.dumps(features)]]
    path = urllib.parse.urlsplit(argv[0][2]).path  # what a server sees, decoded as TF Serving's router does
    model, label = re.fullmatch(r"/v1/models/([^/:]+)/labels/([^/:]+):predict", path).groups()  # type: ignore[union-attr]
    assert urllib.parse.unquote(model) == name and urllib.parse.unquote(label) == name
    assert json.loads(argv[0][6]) == {"signature_name": f"sig {name}", "instances": [1.5, -2.0]}


def test_the_curl_line_of_a_reproduce_block_pastes_safely(tmp_path: Path) -> None:
    name = "m;touch PWNED;x"
    runner = RestRunner(_sig(), base_url="http://127.0.0.1:9", model_name=name, version=3)
    features = {"x": np.array([2.0], np.float32)}
    block = reproduce_block(tmp_path / "c.npz", features, (runner,))
    line = next(ln for ln in block.splitlines() if "curl (rest): " in ln).split("curl (rest): ", 1)[1]
    assert _paste(line, tmp_path) == [["-X", "POST", "http://127.0.0.1:9/v1/models/m%3Btouch%20PWNED%3Bx/versions/3"
                                       ":predict", "-H", "Content-Type: application/json", "-d",
                                       runner.dumps(features)]]


def test_a_hostile_base_url_is_quoted_too(tmp_path: Path) -> None:
    runner = RestRunner(_sig(), base_url="http://127.0.0.1:9/$(touch PWNED);touch PWNED", model_name="m")
    assert _paste(runner.curl({"x": np.array([1.0], np.float32)}), tmp_path)[0][2] == runner.url


def test_shell_line_quotes_each_argument_and_keeps_plain_ones_readable() -> None:
    assert shell_line(["curl", "-X", "POST", "http://h:1/v1/models/iris:predict"]) == \
        "curl -X POST http://h:1/v1/models/iris:predict"
    assert shell_line(["echo", "a b", "it's", ""]) == "echo 'a b' 'it'\"'\"'s' ''"


def test_url_segments_percent_encode_everything_but_unreserved_characters() -> None:
    assert url_segment("iris_v1.2-x~") == "iris_v1.2-x~"
    assert url_segment("a/b:c d?#%") == "a%2Fb%3Ac%20d%3F%23%25"
    assert url_segment("数") == "%E6%95%B0" and url_segment("..") == "%2E%2E" and url_segment(".") == "%2E"
    for name in HOSTILE:
        assert urllib.parse.unquote(url_segment(name)) == name


# ---------------------------------------------------------------- TF Serving's models.config

def _parse(text: str) -> list[tuple[str, str]]:
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    proto = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    return [(c.name, c.base_path) for c in proto.model_config_list.config]


@pytest.mark.parametrize("name", [*HOSTILE, 'q"', "\\", "\\\"", "nul\x00ctl\x01\x1b[31m\x7f", "\u2028\u00a0 \ufeff"])
def test_proto_text_strings_round_trip_through_text_format(name: str) -> None:
    literal = proto_text_string(name)
    assert literal.isascii() and "\n" not in literal and literal.startswith('"') and literal.endswith('"')
    assert _parse(models_config([(name, f"/base/{name}")])) == [(name, f"/base/{name}")]


def test_the_served_config_of_odd_names_parses_back_to_the_same_names(tmp_path: Path) -> None:
    """Two models (a candidate and its baseline) go by models.config: what the server reads is what we meant."""
    from pytest_savedmodel.serving.emulator.servables import configs_from_file

    version = tmp_path / "export" / "1"
    version.mkdir(parents=True)
    names = ['m"q;x', 'm"q;x-baseline', "..", "l1\nl2", "数据-é", "x" * 250 + "-baseline"]
    server = ModelServer("emulator", tuple(ServedModel(n, version) for n in names), tmp_path / "log")
    flags = server._model_flags(server._base_dirs())
    config = Path(flags[0].removeprefix("--model_config_file="))
    assert flags == [f"--model_config_file={config}"] and config.read_bytes().isascii()
    parsed = _parse(config.read_text())
    assert [n for n, _ in parsed] == names
    for _, base in parsed:  # each its own directory under log/models, holding the version as "1"
        assert Path(base).parent == tmp_path / "log" / "models" and (Path(base) / "1").resolve() == version
    assert len({b for _, b in parsed}) == len(names)
    assert [(c.name, c.base_path) for c in configs_from_file(str(config))] == parsed  # as the emulator reads it


def test_one_odd_name_goes_to_the_server_as_one_argument(tmp_path: Path) -> None:
    version = tmp_path / "export" / "1"
    version.mkdir(parents=True)
    server = ModelServer("emulator", (ServedModel("a b;$(x)\n", version),), tmp_path / "log")
    flags = server._model_flags(server._base_dirs())
    assert flags[0] == "--model_name=a b;$(x)\n"
    assert Path(flags[1].removeprefix("--model_base_path=")).parent == tmp_path / "log" / "models"


def test_docker_gets_odd_names_by_config_file_and_paths_with_colons_by_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "docker.argv"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    docker = bindir / "docker"
    docker.write_text(f'#!/bin/bash\nprintf "%s\\0" "$@" >> "{record}"\nexit 1\n')
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    version = tmp_path / 'b a::se,"x"' / "1"
    version.mkdir(parents=True)
    host = version.resolve()
    models = [ServedModel('m"q;x', version), ServedModel("m\"q;x-baseline", version)]
    for served in (models[:1], models):
        record.unlink(missing_ok=True)
        with pytest.raises(ServerStartError, match="docker run failed"):
            ModelServer.create("docker", models=served, log_dir=tmp_path / "log").start()
        argv = record.read_bytes().decode().split("\0")[:-1]
        assert not any(a.startswith("MODEL_NAME=") for a in argv)  # the image's entrypoint would word-split it
        assert argv[-2:] == ["--model_config_file=/models/models.config", "--max_num_load_retries=0"]
        mounts = [next(csv.reader([argv[i + 1]])) for i, a in enumerate(argv) if a == "--mount"]
        names = _parse((tmp_path / "log" / "models.config").read_text())
        assert [n for n, _ in names] == [m.name for m in served]
        assert all(re.fullmatch(r"/models/m-q-x(-baseline)?-[0-9a-f]{8}", b) for _, b in names)
        assert mounts == [["type=bind", f"source={host}", f"target={b}/1", "readonly"] for _, b in names]


# ---------------------------------------------------------------- ids and file names

def test_names_in_ids_are_kept_when_name_equals_dir_would_accept_them_else_percent_escaped() -> None:
    from pytest_savedmodel.artifacts import Artifact
    from pytest_savedmodel.settings import ModelArg

    for plain in ("iris", "iris_v1.2-x", "数据", "café"):
        assert id_part(plain) == plain
    assert id_part("a::b[c]/d e\nf%") == "a%3A%3Ab%5Bc%5D%2Fd%20e%0Af%25"
    for name in [*HOSTILE, "a::b", "x:parsing", "n[1]"]:
        col = Artifact(name, "savedmodel", ModelArg(None, ".", Path("."))).collector
        rest = col.removeprefix("savedmodel:")
        assert not re.search(r"[:\[\]/\s;$`'\"\\]", rest), col
        assert urllib.parse.unquote(rest) == name
    # a directory named "iris:parsing" cannot take the id of model iris's parsing twin
    assert Artifact("iris:parsing", "savedmodel", ModelArg(None, ".", Path("."))).collector != \
        Artifact("iris", "parsing", ModelArg(None, ".", Path("."))).collector


def test_counterexample_names_are_unique_readable_and_safe() -> None:
    ids = ["savedmodel:a b::s::parity[raw~rest]", "savedmodel:a-b::s::parity[raw~rest]",
           "savedmodel:a_b::s::parity[raw~rest]", "savedmodel:A-B::s::parity[raw~rest]",
           "savedmodel:café::数::parity[raw~rest]", "savedmodel:cafe\u0301::数::parity[raw~rest]",
           *(f"savedmodel:{id_part(n)}::s::parity[raw~rest]" for n in HOSTILE),
           *(f"savedmodel:{n}::s::parity[raw~rest]" for n in HOSTILE)]
    names = [file_name(i) for i in ids]
    distinct = len(set(ids))  # "数据-é" and ".." are the same in ids as they are
    assert len(set(names)) == distinct and len({n.lower() for n in names}) == distinct
    for name in names:
        assert re.fullmatch(r"[\w.-]+\.npz", name) and not name.startswith((".", "-")), name
        assert all(c.isalnum() or c in "_.-" for c in name) and len(name.encode()) <= 255
    assert names[0].startswith("a-b-s-parity-raw-rest-") and names[1].startswith("a-b-s-parity-raw-rest-")
    assert names[4].startswith("café-数-parity-raw-rest-")  # letters of any script kept
    assert names[5].startswith("café-数-")  # a decomposed é is composed, not dropped


def test_file_slugs_are_cut_at_a_character_boundary_and_never_empty() -> None:
    long = file_slug("数" * 300)
    assert len(long.encode()) <= 120 + 9 and long.startswith("数数") and long.encode().decode() == long
    assert re.fullmatch(r"[0-9a-f]{8}", file_slug("/;$`'\"\n"))
    assert file_slug("..") != file_slug(".") and not file_slug("..").startswith(".")
