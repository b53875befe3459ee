"""A real PACS for the tests: Orthanc with its DICOMweb plugin (Debian packages `orthanc`, `orthanc-dicomweb`;
.ci/run installs them), started on loopback on free ports with a temporary storage folder and basic
authentication, and stopped after the session. Never a mock: a missing Orthanc fails the tests, it does not skip
them."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

USER, PASSWORD = "clinic", "pacs-test-secret"
PLUGIN_GLOBS = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc/libOrthancDicomWeb.so*",
                "/usr/local/share/orthanc/plugins/libOrthancDicomWeb.so")
START_S = 60


@dataclass(frozen=True)
class Orthanc:
    root: str  # the REST API, e.g. http://127.0.0.1:PORT
    url: str  # its DICOMweb service: what the workstation is pointed at
    dicom_port: int

    def session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (USER, PASSWORD)
        return session

    def upload(self, path) -> None:
        """Put a DICOM file on the server by Orthanc's own REST API (independent of the code under test)."""
        answer = self.session().post(f"{self.root}/instances", data=Path(path).read_bytes(), timeout=30)
        answer.raise_for_status()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _plugin() -> str:
    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    pytest.fail("the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb; .ci/run does)")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    binary = shutil.which("Orthanc")
    if binary is None:
        pytest.fail("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb; .ci/run does)")
    folder = tmp_path_factory.mktemp("orthanc")
    http_port, dicom_port = _free_port(), _free_port()
    config = {"Name": "siamese-lens-test", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
              "HttpPort": http_port, "DicomPort": dicom_port, "RemoteAccessAllowed": False,
              "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD}, "Plugins": [_plugin()],
              "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "SaveJobs": False}
    (folder / "orthanc.json").write_text(json.dumps(config), encoding="utf-8")
    log = open(folder / "orthanc.log", "wb")
    process = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                               cwd=folder, env={**os.environ, "LANG": "C.UTF-8"})
    root = f"http://127.0.0.1:{http_port}"
    server = Orthanc(root, f"{root}/dicom-web", dicom_port)
    deadline = time.monotonic() + START_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"Orthanc exited at start: {(folder / 'orthanc.log').read_text(errors='replace')[-800:]}")
            try:
                if server.session().get(f"{root}/system", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Orthanc did not answer within {START_S} s")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def pacs_login(monkeypatch):
    """The workstation's credentials for the test server, as a clinic would set them: in the environment."""
    monkeypatch.setenv("SIAMESE_LENS_PACS_USER", USER)
    monkeypatch.setenv("SIAMESE_LENS_PACS_PASSWORD", PASSWORD)
    monkeypatch.delenv("SIAMESE_LENS_PACS_TOKEN", raising=False)
