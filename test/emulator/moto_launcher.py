"""Starts a local moto server for the emulator tests and the demo.

Run with the project's virtualenv: `.venv/bin/python test/emulator/moto_launcher.py`.

- Binds moto's ThreadedMotoServer to 127.0.0.1 on a free port chosen by the OS (port 0).
- Binds a small control server (stdlib http.server) to 127.0.0.1 on another free port. It seeds
  backend state that moto's AWS API cannot produce, by editing moto's in-process backends.
- Prints ONE JSON line to stdout, {"endpoint": "http://127.0.0.1:<port>", "control": "http://127.0.0.1:<port>"},
  then stays up until stdin is closed (the parent went away or asked it to stop) or SIGTERM/SIGINT.

Control commands (POST, JSON body, JSON answer; 4xx with {"error": ...} on bad input):
- /seed/snapshot-kms {"snapshot_id", "kms_key_id", "region"?, "account"?}: marks an EBS snapshot as
  encrypted with that KMS key (moto cannot create an AMI with KMS-encrypted snapshots through its API).
- /seed/key-manager {"key_id", "key_manager", "region"?, "account"?}: sets a KMS key's KeyManager
  ("AWS" or "CUSTOMER"; key id, key ARN, alias name or alias ARN), so a key made with CreateKey can
  stand for the AWS managed key aws/ebs (moto cannot create AWS managed keys through its API).
- /seed/ami-snapshot {"image_id", "region"?, "account"?}: adds one more EBS snapshot (a new 15 GiB
  volume's) to an AMI's block-device mappings and answers {"snapshot_id", "device_name"}. moto gives
  every AMI exactly one snapshot whatever its source instance had; real AMIs often have a root and
  data volumes, each of which may be encrypted with its own key.
  With "snapshot_id" it adds that existing snapshot instead (a snapshot associated with several AMIs).
- /reset {}: resets every moto backend (same as POST <endpoint>/moto-api/reset) and the strict
  layer's state (open consistency windows); the strict configuration is kept.
- /config {knob: value, ...}: sets strict-mode knobs (all or nothing) and answers the effective
  configuration; {} just reads it; {"defaults": true} first restores the start-up values.
- /strict/settle {}: closes every open consistency window (the next read of anything is up to date).
- /seed/share {"kind": "launch"|"snapshot"|"workspaces", "id", "add"?: [...], "remove"?: [...],
  "region"?, "account"?}: changes shares as if made by hand long ago (no consistency window opens,
  no refusal applies). Launch entries: account ids, "all", or {"UserId"|"Group"|"OrganizationArn"|
  "OrganizationalUnitArn": value}; snapshot entries: account ids or "all"; workspaces: account ids.
- /seed/workspace-image-state {"image_id", "state", "region"?, "account"?}: sets a WorkSpaces image's
  State ("AVAILABLE", "PENDING" or "ERROR", as DescribeWorkspaceImages documents): moto makes every
  image AVAILABLE at once, where a real one is PENDING for a while after CreateWorkspaceImage.
GET /health answers {"ok": true}. GET /config answers the effective strict configuration.

Strict mode (./strict_aws.py, applied at start): moto is made to refuse and delay what real AWS
refuses and delays; every rule cites the AWS page it copies. Knobs (env var read at start /
/config key; the env var is STRICT_AWS_ + the key in capitals, e.g. STRICT_AWS_CONSISTENCY_WINDOW_MS=300;
booleans as 1/0, true/false, yes/no, on/off):
- strict (default true): master switch; false turns every refusal and delay below off (the emulated
  APIs keep working).
- consistency_window_ms (default 0 = off): eventual consistency. A read within this long after the
  last write of a resource returns its state from before the first write of the still-open window:
  DescribeImageAttribute launchPermission, DescribeSnapshotAttribute createVolumePermission,
  DescribeWorkspaceImagePermissions, KMS ListGrants.
- stale_read_rate (default 1.0): probability that a read inside an open window is stale (1.0 =
  always, deterministic); stale_read_seed (default null) seeds that draw.
- snapshot_in_use_ms (default 0 = off): DeleteSnapshot of a snapshot of an AMI deregistered less than
  this long ago fails with InvalidSnapshot.InUse.
- deregistration_cooldown_ms (default 86400000, AWS's 24 h): how long DeregisterImage stays refused
  after deregistration protection enabled WithCooldown is disabled.
- snapshot_modify_limits (default true): ModifySnapshotAttribute takes at most 500 account changes and
  never adds and removes in one call (InvalidParameterValue / InvalidParameterCombination).
- disabled_images (default true): DisableImage removes every launch permission; DescribeImages omits
  disabled AMIs unless IncludeDisabled; sharing a disabled AMI fails (InvalidAMIID.Unavailable).
- workspaces_refusals (default true): unsharing a WorkSpaces image from an account that does not hold
  the share fails (InvalidParameterValuesException); DeleteWorkspaceImage of a shared image fails
  (InvalidResourceStateException).
- grant_name_idempotency (default true): KMS CreateGrant with the Name of an existing grant on the key
  and identical parameters returns the original GrantId and creates nothing.
- deregistration_protection (default true): DeregisterImage of a protected AMI (or during the
  cooldown) fails with OperationNotPermitted.
Always emulated (moto 5.2.5 lacks them): Enable/DisableImageDeregistrationProtection and
DescribeImages' DeregistrationProtection, DeregisterImage DeleteAssociatedSnapshots (with
DeleteSnapshotResults), ModifySnapshotAttribute's CreateVolumePermission.Add/Remove form,
DeleteWorkspaceImage, ResourceNotFoundException for UpdateWorkspaceImagePermission on an unknown image.

moto gaps patched in this process (see patch_moto_gaps): Describe/ModifyImageAttribute on a
deregistered or unknown AMI answer InvalidAMIID.Unavailable / InvalidAMIID.NotFound, not HTTP 500;
an AMI's block-device mappings list the snapshots added by /seed/ami-snapshot after its own.
"""

import json
import logging
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Tuple

from moto.server import ThreadedMotoServer

sys.dont_write_bytecode = True  # no __pycache__ next to the sources for the module below
import strict_aws  # noqa: E402 (this directory is on sys.path: the launcher runs as a script)

HOST = "127.0.0.1"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
# Device names of the snapshots /seed/ami-snapshot adds (moto's own one is the root, /dev/sda1).
EXTRA_DEVICE_NAMES = tuple(f"/dev/sd{c}" for c in "fghijklmnop")


class SeedError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _require_str(body: Dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise SeedError(400, f"{key} must be a non-empty string, got {value!r}")
    return value


def _require_one_of(body: Dict[str, Any], key: str, choices: Tuple[str, ...]) -> str:
    value = _require_str(body, key)
    if value not in choices:
        raise SeedError(400, f"{key} must be one of {list(choices)}, got {value!r}")
    return value


def _account_and_region(body: Dict[str, Any]) -> Tuple[str, str]:
    """The optional "account" and "region" of a seed command (moto's defaults when absent)."""
    return _require_str(body, "account", DEFAULT_ACCOUNT), _require_str(body, "region", DEFAULT_REGION)


def seed_snapshot_kms(body: Dict[str, Any]) -> Dict[str, Any]:
    from moto.ec2.models import ec2_backends

    snapshot_id = _require_str(body, "snapshot_id")
    kms_key_id = _require_str(body, "kms_key_id")
    account, region = _account_and_region(body)
    backend = ec2_backends[account][region]
    snapshot = backend.snapshots.get(snapshot_id)
    if snapshot is None:
        raise SeedError(404, f"snapshot {snapshot_id} not found in account {account} region {region}")
    snapshot.encrypted = True
    snapshot.kms_key_id = kms_key_id
    return {"snapshot_id": snapshot.id, "encrypted": snapshot.encrypted, "kms_key_id": snapshot.kms_key_id}


KEY_MANAGERS = ("AWS", "CUSTOMER")


def seed_key_manager(body: Dict[str, Any]) -> Dict[str, Any]:
    from moto.kms.models import kms_backends

    key_id = _require_str(body, "key_id")
    key_manager = _require_one_of(body, "key_manager", KEY_MANAGERS)
    account, region = _account_and_region(body)
    backend = kms_backends[account][region]
    try:
        key = backend.describe_key(key_id)  # accepts a key id, key ARN, alias name or alias ARN
    except Exception as err:  # noqa: BLE001 (KeyError or moto's NotFoundException, by id kind)
        raise SeedError(404, f"KMS key {key_id} not found in account {account} region {region}") from err
    key.key_manager = key_manager
    return {"key_id": key.id, "arn": key.arn, "key_manager": key.key_manager}


WORKSPACE_IMAGE_STATES = ("AVAILABLE", "PENDING", "ERROR")


def seed_workspace_image_state(body: Dict[str, Any]) -> Dict[str, Any]:
    from moto.workspaces.models import workspaces_backends

    image_id = _require_str(body, "image_id")
    state = _require_one_of(body, "state", WORKSPACE_IMAGE_STATES)
    account, region = _account_and_region(body)
    image = workspaces_backends[account][region].workspace_images.get(image_id)
    if image is None:
        raise SeedError(404, f"WorkSpaces image {image_id} not found in account {account} region {region}")
    image.state = state
    return {"image_id": image_id, "state": image.state}


def seed_ami_snapshot(body: Dict[str, Any]) -> Dict[str, Any]:
    from moto.ec2.models import ec2_backends

    image_id = _require_str(body, "image_id")
    account, region = _account_and_region(body)
    backend = ec2_backends[account][region]
    ami = backend.amis.get(image_id)
    if ami is None:
        raise SeedError(404, f"AMI {image_id} not found in account {account} region {region}")
    extra = ami.__dict__.setdefault("extra_snapshots", [])
    if len(extra) >= len(EXTRA_DEVICE_NAMES):
        raise SeedError(400, f"AMI {image_id} already has {len(extra)} added snapshots, the most this launcher adds")
    existing = body.get("snapshot_id")
    if existing is not None:
        # An existing snapshot (e.g. another AMI's): one snapshot associated with several AMIs.
        snapshot = backend.snapshots.get(_require_str(body, "snapshot_id"))
        if snapshot is None:
            raise SeedError(404, f"snapshot {existing} not found in account {account} region {region}")
    else:
        volume = backend.create_volume(size=15, zone_name=f"{region}a")
        snapshot = backend.create_snapshot(volume.id, f"Added snapshot for AMI {image_id}", ami.owner_id, from_ami=image_id)
        backend.delete_volume(volume.id)
    extra.append(snapshot)
    return {"snapshot_id": snapshot.id, "device_name": EXTRA_DEVICE_NAMES[len(extra) - 1]}


def reset(_body: Dict[str, Any]) -> Dict[str, Any]:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    strict_aws.reset_state()
    return {"reset": True}


def configure_strict(body: Dict[str, Any]) -> Dict[str, Any]:
    try:
        return strict_aws.configure(body)
    except strict_aws.ConfigError as err:
        raise SeedError(400, str(err)) from err


def settle_strict(_body: Dict[str, Any]) -> Dict[str, Any]:
    return strict_aws.settle()


def seed_share(body: Dict[str, Any]) -> Dict[str, Any]:
    from moto.ec2.models import ec2_backends
    from moto.workspaces.models import workspaces_backends

    try:
        return strict_aws.seed_share(body, lambda a, r: ec2_backends[a][r], lambda a, r: workspaces_backends[a][r])
    except strict_aws.ConfigError as err:
        raise SeedError(400, str(err)) from err
    except LookupError as err:
        raise SeedError(404, str(err)) from err


COMMANDS: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {
    "/seed/snapshot-kms": seed_snapshot_kms,
    "/seed/key-manager": seed_key_manager,
    "/seed/ami-snapshot": seed_ami_snapshot,
    "/reset": reset,
    "/config": configure_strict,
    "/strict/settle": settle_strict,
    "/seed/share": seed_share,
    "/seed/workspace-image-state": seed_workspace_image_state,
}


class ControlHandler(BaseHTTPRequestHandler):
    def _answer(self, status: int, payload: Dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if self.path == "/health":
            self._answer(200, {"ok": True})
        elif self.path == "/config":
            self._answer(200, strict_aws.effective())
        else:
            self._answer(404, {"error": f"unknown path {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        command = COMMANDS.get(self.path)
        if command is None:
            self._answer(404, {"error": f"unknown command {self.path}; known: {sorted(COMMANDS)}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b"{}"
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise SeedError(400, "the body must be a JSON object")
            self._answer(200, command(body))
        except SeedError as err:
            self._answer(err.status, {"error": str(err)})
        except json.JSONDecodeError as err:
            self._answer(400, {"error": f"the body is not JSON: {err}"})
        except Exception as err:  # noqa: BLE001 (report anything to the harness)
            self._answer(500, {"error": f"{type(err).__name__}: {err}"})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet: the harness reads stdout for the one JSON line and keeps stderr for errors


def start_control() -> Tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer((HOST, 0), ControlHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="moto-control", daemon=True)
    thread.start()
    return server, thread


def patch_moto_gaps() -> None:
    """Makes moto answer like EC2 where its gaps would otherwise turn a clear AWS error into HTTP 500.

    moto 5.2.5: DescribeImageAttribute and ModifyImageAttribute on a deregistered or unknown AMI fail
    with a KeyError/IndexError (HTTP 500, which the SDK retries and then reports as unparseable XML).
    EC2 answers InvalidAMIID.Unavailable (deregistered) or InvalidAMIID.NotFound (unknown).
    """
    from moto.ec2.exceptions import InvalidAMIIdError, UnvailableAMIIdError
    from moto.ec2.models.amis import AmiBackend

    def check(backend: Any, ami_id: str) -> None:
        if ami_id in backend.amis:
            return
        if ami_id in backend.deleted_amis:
            raise UnvailableAMIIdError(ami_id)
        raise InvalidAMIIdError(ami_id)

    describe_original = AmiBackend.describe_image_attribute
    modify_original = AmiBackend.modify_image_attribute

    def describe_image_attribute(self: Any, ami_id: str, attribute_name: str) -> Any:
        check(self, ami_id)
        return describe_original(self, ami_id, attribute_name)

    def modify_image_attribute(self: Any, *args: Any, **kwargs: Any) -> Any:
        check(self, kwargs["ami_id"] if "ami_id" in kwargs else args[0])
        return modify_original(self, *args, **kwargs)

    AmiBackend.describe_image_attribute = describe_image_attribute  # type: ignore[method-assign]
    AmiBackend.modify_image_attribute = modify_image_attribute  # type: ignore[method-assign]

    # moto 5.2.5: Ami.block_device_mappings is one fixed root mapping. Append the snapshots that
    # /seed/ami-snapshot added (none unless asked), as EC2 lists every EBS volume of an AMI.
    from moto.ec2.models.amis import Ami

    mappings_original = Ami.block_device_mappings

    def block_device_mappings(self: Any) -> Any:
        mappings = list(mappings_original.fget(self))  # type: ignore[attr-defined]
        for device_name, snapshot in zip(EXTRA_DEVICE_NAMES, self.__dict__.get("extra_snapshots", [])):
            mappings.append({
                "DeviceName": device_name,
                "Ebs": {"SnapshotId": snapshot.id, "VolumeSize": 15, "DeleteOnTermination": False, "VolumeType": "standard"},
            })
        return mappings

    Ami.block_device_mappings = property(block_device_mappings)  # type: ignore[method-assign,assignment]


class _Stop(Exception):
    """Raised by the signal handler to leave the blocking stdin read."""


def main() -> int:
    # Werkzeug logs every request to stderr; only errors are of interest.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    def on_signal(_signum: int, _frame: Any) -> None:
        raise _Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    patch_moto_gaps()
    try:
        strict_aws.load_env()
    except (strict_aws.ConfigError, ValueError) as err:
        sys.stderr.write(f"moto_launcher: bad STRICT_AWS_* environment: {err}\n")
        return 2
    strict_aws.apply()
    moto = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    moto.start()
    control, control_thread = start_control()
    try:
        _, moto_port = moto.get_host_and_port()
        control_port = control.server_address[1]
        sys.stdout.write(json.dumps({"endpoint": f"http://{HOST}:{moto_port}", "control": f"http://{HOST}:{control_port}"}) + "\n")
        sys.stdout.flush()
        # Blocks until EOF: the parent closed our stdin (stop()) or exited. SIGTERM/SIGINT end it too.
        while sys.stdin.buffer.read(4096):
            pass
    except (_Stop, OSError, ValueError):
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        control.shutdown()
        control.server_close()
        control_thread.join()
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
