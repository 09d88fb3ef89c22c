"""Nothing secret in a report: environment by allow-list, secret-looking names never valued."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import callchain, report_of

from harness.privacy import ENV_ALLOW, REDACTED, looks_secret, report_environment, scrub_argv

SECRETS = {
    "TF_VAR_db_password": "tfvar-s3cr3t-value-1",
    "AWS_SECRET_ACCESS_KEY": "aws-s3cr3t-value-2",
    "GITHUB_TOKEN": "ghp_s3cr3t_value_3",
    "OPENAI_API_KEY": "sk-s3cr3t-value-4",
    "KERAS_API_KEY": "keras-s3cr3t-value-5",  # a prefix match on KERAS_ would have kept it
    "TF_CLI_CONFIG_FILE": "/home/someone/.terraformrc-s3cr3t-6",  # Terraform, not TensorFlow
}


def test_only_allow_listed_names_are_recorded():
    env = dict(
        SECRETS,
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        HOME="/root",
        PATH="/bin",
        XLA_FLAGS="--xla_cpu",
        TF_SOMETHING_NEW="x",
        KERAS_BACKEND="tensorflow",
    )
    recorded = report_environment(env)
    assert recorded == {
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
        "XLA_FLAGS": "--xla_cpu",
        "KERAS_BACKEND": "tensorflow",
    }


def test_a_secret_looking_name_is_never_valued_even_if_allowed():
    recorded = report_environment({"MY_TOKEN": "t", "OMP_NUM_THREADS": "4"}, allow=ENV_ALLOW | {"MY_TOKEN"})
    assert recorded == {"MY_TOKEN": REDACTED, "OMP_NUM_THREADS": "4"}


def test_no_allow_listed_name_looks_secret():
    """The shipped list records values; none of them may be of a secret-looking name."""
    assert not [name for name in ENV_ALLOW if looks_secret(name)]


@pytest.mark.parametrize(
    "name",
    [
        "GITHUB_TOKEN",
        "aws_secret_access_key",
        "TF_VAR_db_password",
        "DB_PASSWD",
        "OPENAI_API_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "HTTP_AUTH",
        "--api-key",
    ],
)
def test_secret_looking_names(name):
    assert looks_secret(name)


def test_command_line_values_of_secret_names_are_hidden():
    argv = [
        "trace",
        "--root",
        "/home/me/PtychoPINN",
        "GITHUB_TOKEN=abc",
        "--api-key",
        "def",
        "--password=ghi",
        "--question",
        "how does it save?",
    ]
    assert scrub_argv(argv) == [
        "trace",
        "--root",
        "/home/me/PtychoPINN",
        f"GITHUB_TOKEN={REDACTED}",
        "--api-key",
        REDACTED,
        f"--password={REDACTED}",
        "--question",
        "how does it save?",
    ]


def _files_containing(folder: Path, needles) -> dict:
    found = {}
    for base, _dirs, names in os.walk(folder):  # symlinks (the harness path) are not followed
        for name in names:
            path = Path(base) / name
            if path.is_symlink():
                continue
            data = path.read_bytes()
            hits = [needle for needle in needles if needle.encode() in data]
            if hits:
                found[str(path)] = hits
    return found


@pytest.mark.slow
def test_secrets_in_the_environment_reach_no_file_of_the_report_or_scratch(tmp_path):
    done = callchain(
        "trace", "--out", str(tmp_path / "out"), env=dict(SECRETS, TF_ENABLE_ONEDNN_OPTS="0"), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    report = report_of(done)
    run_folder = tmp_path / "out"
    assert (report / "env" / "trace_env.json").is_file() and any(
        (run_folder / "INTEGRATE-PYTORCH-001" / "scratch").iterdir()
    )
    assert _files_containing(run_folder, SECRETS.values()) == {}
    # the allow-listed variable the user set is recorded, so the scan above looked at real files
    assert "TF_ENABLE_ONEDNN_OPTS=0" in (report / "callchain" / "static.md").read_text()
    assert '"TF_ENABLE_ONEDNN_OPTS": "0"' in (report / "env" / "trace_env.json").read_text()
