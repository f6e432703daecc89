"""Training across processes: kill -9 and resume, and a real two-worker MultiWorkerMirroredStrategy run."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from keras_lightnets.train.history import read_history

TRAIN = [sys.executable, "-m", "keras_lightnets.cli", "train", "--alpha", "0.25", "--batch-size", "32", "--progress", "2"]


def _env(**extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **extra}


@pytest.mark.slow  # about a minute of 2 training processes; the default run stays under 15 minutes on 2 cores
def test_kill_minus_9_then_the_same_command_resumes_without_lost_or_repeated_epochs(tmp_path):
    run_dir = tmp_path / "run"
    command = TRAIN + ["--epochs", "4", "--output-dir", str(run_dir)]
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_env())
    history = run_dir / "history.csv"
    deadline = time.time() + 300
    while time.time() < deadline and len(read_history(str(history))) < 2 and first.poll() is None:
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    before = read_history(str(history))
    assert 2 <= len(before) < 4, f"the kill should land mid-run: {len(before)} epochs recorded"
    assert not (run_dir / "summary.json").exists()

    second = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=600)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    after = read_history(str(history))
    assert [row["epoch"] for row in after] == [0, 1, 2, 3]
    resumed_at = int(second.stdout.split("resuming the interrupted run at epoch ")[1].split("/")[0]) - 1
    assert resumed_at in (len(before), len(before) - 1)  # the last epoch ended, or its backup was not yet written
    assert after[:resumed_at] == before[:resumed_at]  # finished epochs were not trained again
    assert second.stdout.count("Epoch ") == 4 - resumed_at
    assert json.loads((run_dir / "summary.json").read_text())["epochs"] == 4
    assert not (run_dir / "backup").exists()


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.mark.slow  # about a minute of 2 worker processes
def test_two_worker_multiworker_mirrored_strategy_on_localhost(tmp_path):
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    run_dir = tmp_path / "run"
    command = TRAIN + ["--epochs", "1", "--batch-size", "64", "--strategy", "multiworker", "--output-dir", str(run_dir)]
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        log = open(tmp_path / f"worker{index}.log", "w")
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_env(TF_CONFIG=tf_config)))
    try:
        codes = [process.wait(timeout=600) for process in processes]
    finally:
        for process in processes:
            process.kill()
    logs = [(tmp_path / f"worker{index}.log").read_text() for index in range(2)]
    assert codes == [0, 0], "\n".join(log[-3000:] for log in logs)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["replicas"] == 2
    assert (run_dir / "model.keras").exists() and not (run_dir / ".worker-1").exists()
    assert [row["epoch"] for row in read_history(str(run_dir / "history.csv"))] == [0]
    # Keras' epoch line on each worker: the all-reduced test accuracy of the same synchronized weights
    accuracies = [log.split("test_accuracy: ")[1].split(" ")[0] for log in logs]
    assert accuracies[0] == accuracies[1], accuracies
    assert f"test accuracy {summary['test_accuracy']:.4f}" in logs[0]  # the chief's final report
