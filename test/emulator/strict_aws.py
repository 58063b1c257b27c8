"""Strict mode for the local moto: makes it refuse and delay what real AWS refuses and delays.

moto answers every write at once and accepts requests AWS refuses. This module patches moto's
backends and response classes in this process (moto 5.2.5) so that the emulator tests meet AWS as it
is documented. Each rule below names the AWS page and the sentence it copies; where AWS documents no
error code for a refusal, the comment says which real code was chosen and why.

Rules (each switch is a key of StrictConfig; `strict: false` turns every refusal and delay off at
once, while the emulated APIs themselves keep working):

1. `snapshot_modify_limits`: ModifySnapshotAttribute takes at most 500 account changes a call and
   never adds and removes in one call; both request forms (OperationType + UserIds/GroupNames, and
   CreateVolumePermission.Add/Remove) are understood.
2. `consistency_window_ms` (+ `stale_read_rate`): eventual consistency. A read within the window after
   the last write of a resource returns the state from before the first write of the still-open window.
   Covers launch permissions, snapshot createVolumePermission, WorkSpaces image permissions, KMS grants.
3. `snapshot_in_use_ms`: DeleteSnapshot of a snapshot of an AMI deregistered less than that long ago
   fails with InvalidSnapshot.InUse. DeregisterImage takes DeleteAssociatedSnapshots (always on).
4. `disabled_images`: DisableImage removes every launch permission; DescribeImages omits disabled AMIs
   unless IncludeDisabled; a disabled AMI cannot be shared.
5. `workspaces_refusals`: UpdateWorkspaceImagePermission refuses to unshare an account that does not
   hold the share; DeleteWorkspaceImage (emulated) refuses an image that is still shared.
6. `grant_name_idempotency`: KMS CreateGrant with the Name of an existing grant on the key and
   identical parameters returns the original GrantId and creates nothing.
7. `deregistration_protection` (+ `deregistration_cooldown_ms`): Enable/DisableImageDeregistrationProtection
   (emulated), DescribeImages reports DeregistrationProtection, DeregisterImage is refused while
   protected and during the cooldown.

All per-resource state lives on moto's own model objects (AMIs, snapshots, images, keys, backends),
so moto's reset forgets it together with the resources. The configuration survives resets.
"""

from __future__ import annotations

import copy
import functools
import os
import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

ENV_PREFIX = "STRICT_AWS_"
DAY_MS = 24 * 60 * 60 * 1000


@dataclass
class StrictConfig:
    """The knobs. Each can be set at start by the env var STRICT_AWS_<NAME IN CAPITALS> and at run
    time by the control command POST /config."""

    # Master switch: false turns every refusal and delay of this module off.
    strict: bool = True
    # Rule 2. 0 = reads are consistent at once (the default: suites turn it on explicitly).
    consistency_window_ms: float = 0
    # Rule 2. Probability that a read inside an open window is stale (1.0 = always, deterministic).
    stale_read_rate: float = 1.0
    # Rule 2. Seed of the random draw used when stale_read_rate < 1 (None = seeded from the clock).
    stale_read_seed: Optional[int] = None
    # Rule 3. 0 = a snapshot can be deleted right after its AMI is deregistered.
    snapshot_in_use_ms: float = 0
    # Rule 7. How long deregistration stays refused after protection with cooldown is turned off.
    deregistration_cooldown_ms: float = DAY_MS
    # Rule switches (all on by default).
    snapshot_modify_limits: bool = True
    disabled_images: bool = True
    workspaces_refusals: bool = True
    grant_name_idempotency: bool = True
    deregistration_protection: bool = True


class ConfigError(Exception):
    """A bad /config body (the launcher answers HTTP 400)."""


CONFIG = StrictConfig()
_lock = threading.RLock()
_rng = random.Random()
# Bumped by settle() and reset_state(): consistency windows opened in an older epoch are closed.
_epoch = 0

_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _coerce(name: str, kind: Any, value: Any) -> Any:
    if name == "stale_read_seed":
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise ConfigError(f"{name} must be an integer or null, got {value!r}")
    if kind is bool or kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    if name == "stale_read_rate" and value > 1:
        raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value) if name == "stale_read_rate" else value


def _from_env(environ: Dict[str, str]) -> StrictConfig:
    config = StrictConfig()
    for f in fields(StrictConfig):
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is None or raw.strip() == "":
            continue
        raw = raw.strip()
        if f.name == "stale_read_seed":
            value: Any = None if raw.lower() in ("none", "null") else int(raw)
        elif isinstance(getattr(config, f.name), bool):
            if raw.lower() not in _BOOL_WORDS:
                raise ConfigError(f"{ENV_PREFIX}{f.name.upper()} must be one of {sorted(_BOOL_WORDS)}, got {raw!r}")
            value = _BOOL_WORDS[raw.lower()]
        else:
            value = float(raw)
        setattr(config, f.name, _coerce(f.name, bool if isinstance(getattr(config, f.name), bool) else float, value))
    return config


_ENV_DEFAULTS = StrictConfig()


def load_env(environ: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Reads the STRICT_AWS_* env vars (at start); they are also what `{"defaults": true}` restores."""
    global CONFIG, _ENV_DEFAULTS
    with _lock:
        _ENV_DEFAULTS = _from_env(dict(os.environ if environ is None else environ))
        CONFIG = copy.copy(_ENV_DEFAULTS)
        _rng.seed(CONFIG.stale_read_seed)
        return asdict(CONFIG)


def configure(body: Dict[str, Any]) -> Dict[str, Any]:
    """POST /config: sets the given knobs (all or nothing) and answers the effective config.

    `{"defaults": true, ...}` first restores the start-up values (defaults + env vars)."""
    global CONFIG
    known = {f.name: f for f in fields(StrictConfig)}
    unknown = sorted(k for k in body if k not in known and k != "defaults")
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}; known: {sorted(known) + ['defaults']}")
    with _lock:
        base = copy.copy(_ENV_DEFAULTS) if body.get("defaults") is True else copy.copy(CONFIG)
        for name, value in body.items():
            if name == "defaults":
                continue
            setattr(base, name, _coerce(name, bool if isinstance(getattr(StrictConfig(), name), bool) else float, value))
        CONFIG = base
        if "stale_read_seed" in body or body.get("defaults") is True:
            _rng.seed(CONFIG.stale_read_seed)
        return asdict(CONFIG)


def effective() -> Dict[str, Any]:
    return asdict(CONFIG)


def reset_state() -> None:
    """Forgets the layer's own state. Per-resource state lives on moto's objects and goes with moto's
    reset; this closes every open consistency window and reseeds the stale-read draw."""
    global _epoch
    with _lock:
        _epoch += 1
        _rng.seed(CONFIG.stale_read_seed)


def settle() -> Dict[str, Any]:
    """Closes every open consistency window now: the next read of anything is up to date."""
    global _epoch
    with _lock:
        _epoch += 1
        return {"settled": True}


def _on(rule: str) -> bool:
    return CONFIG.strict and bool(getattr(CONFIG, rule))


def _ms(name: str) -> float:
    return float(getattr(CONFIG, name)) if CONFIG.strict else 0.0


# ---------------------------------------------------------------------------------------------
# Rule 2: eventual consistency, per resource
# ---------------------------------------------------------------------------------------------
#
# "The Amazon EC2 API follows an eventual consistency model. This means that the result of an API
# command you run that creates or modifies resources might not be immediately available to all
# subsequent commands you run."
#   https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html
# "When you create, retire, or revoke a grant, there might be a brief delay, usually less than five
# minutes, until the grant is available throughout KMS. This state is known as eventual consistency."
#   https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html
# WorkSpaces documents nothing stronger for DescribeWorkspaceImagePermissions, so it is treated alike.
#
# Each tracked resource (AMI: launch permissions; snapshot: createVolumePermission; WorkSpaces image:
# permissions; KMS key: grants) carries [epoch, time of last write, state before the window opened].
# A write inside an open window only moves its end; a read inside it returns the saved state.

_WINDOW = "_strict_aws_window"


def _window_s() -> float:
    return _ms("consistency_window_ms") / 1000.0


def _capture_if_tracking(obj: Any, capture: Callable[[Any], Any]) -> Any:
    """The state before a write, if consistency windows are on and none is open (else None)."""
    window = _window_s()
    if window <= 0 or obj is None:
        return None
    with _lock:
        w = obj.__dict__.get(_WINDOW)
        if w is not None and w[0] == _epoch and time.monotonic() - w[1] < window:
            return None  # a window is open: its saved state stays the one before its first write
        return ("state", capture(obj))


def _after_write(obj: Any, captured: Any) -> None:
    window = _window_s()
    if window <= 0 or obj is None:
        return
    now = time.monotonic()
    with _lock:
        w = obj.__dict__.get(_WINDOW)
        if captured is not None:
            obj.__dict__[_WINDOW] = [_epoch, now, captured[1]]
        elif w is not None:
            w[1] = now


def _stale(obj: Any) -> Tuple[bool, Any]:
    """(True, the state from before the open window) when this read is to be stale."""
    window = _window_s()
    if window <= 0 or obj is None:
        return False, None
    with _lock:
        w = obj.__dict__.get(_WINDOW)
        if w is None or w[0] != _epoch or time.monotonic() - w[1] >= window:
            return False, None
        if CONFIG.stale_read_rate < 1.0 and _rng.random() >= CONFIG.stale_read_rate:
            return False, None
        return True, copy.deepcopy(w[2])


def _tracked_write(get_obj: Callable[..., Any], capture: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wraps a backend write: the resource's state before it opens (or extends) its window."""

    def decorate(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                obj = get_obj(self, *args, **kwargs)
            except Exception:  # noqa: BLE001 (unknown resource: the original raises AWS's error)
                obj = None
            captured = _capture_if_tracking(obj, capture)
            result = original(self, *args, **kwargs)
            _after_write(obj, captured)
            return result

        return write

    return decorate


def _arg(name: str, index: int) -> Callable[..., Any]:
    def pick(*args: Any, **kwargs: Any) -> Any:
        return kwargs[name] if name in kwargs else args[index]

    return pick


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _ec2_error(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def _snapshot_ids(ami: Any) -> List[str]:
    ids: List[str] = []
    for mapping in ami.block_device_mappings:
        snapshot_id = (mapping.get("Ebs") or {}).get("SnapshotId")
        if snapshot_id and snapshot_id not in ids:
            ids.append(snapshot_id)
    return ids


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# ---------------------------------------------------------------------------------------------
# Rule 7: deregistration protection (moto 5.2.5 lacks it)
# ---------------------------------------------------------------------------------------------
#
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeregistrationProtection.html
#   "When deregistration protection is enabled, the AMI can't be deregistered."
#   WithCooldown: "If true, enforces deregistration protection for 24 hours after deregistration
#   protection is disabled."
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImageDeregistrationProtection.html
#   "If you chose to include a 24-hour cooldown period when you enabled deregistration protection for
#   the AMI, then, when you disable deregistration protection, you won't immediately be able to
#   deregister the AMI."
# The answers' `Return` strings copy the AWS CLI reference examples
# (https://docs.aws.amazon.com/cli/latest/reference/ec2/enable-image-deregistration-protection.html:
# "enabled-without-cooldown"; disable-image-deregistration-protection.html: "disabled");
# DescribeImages shows the same strings (Image.DeregistrationProtection), and "enabled-with-cooldown"
# when enabled with the cooldown. During the cooldown it shows "disabled-until <ISO-8601 UTC time>":
# AWS documents no exact format for that state, so this one is an assumption.
# Refusal: AWS documents no error code for DeregisterImage on a protected AMI. OperationNotPermitted
# is chosen: it is the code EC2 gives for the same kind of guard on instances (TerminateInstances
# with disableApiTermination set: "The instance ... may not be terminated. Modify its
# 'disableApiTermination' instance attribute and try again.").

_PROTECTION = "_strict_aws_protection"


def _protection(ami: Any) -> Dict[str, Any]:
    return ami.__dict__.setdefault(_PROTECTION, {"enabled": False, "cooldown": False, "until": None, "until_wall": None})


def _protection_string(ami: Any) -> str:
    p = ami.__dict__.get(_PROTECTION)
    if not p:
        return "disabled"
    if p["enabled"]:
        return "enabled-with-cooldown" if p["cooldown"] else "enabled-without-cooldown"
    if p["until"] is not None and time.monotonic() < p["until"]:
        return f"disabled-until {_iso(p['until_wall'])}"
    return "disabled"


def _check_deregistration_allowed(ami: Any) -> None:
    if not _on("deregistration_protection"):
        return
    p = ami.__dict__.get(_PROTECTION)
    if not p:
        return
    if p["enabled"]:
        raise _ec2_error(
            "OperationNotPermitted",
            f"The image '{ami.id}' cannot be deregistered because deregistration protection is enabled. "
            "Disable deregistration protection and try again.",
        )
    if p["until"] is not None and time.monotonic() < p["until"]:
        raise _ec2_error(
            "OperationNotPermitted",
            f"The image '{ami.id}' cannot be deregistered until {_iso(p['until_wall'])}: deregistration protection "
            "was disabled with a cooldown period.",
        )


# ---------------------------------------------------------------------------------------------
# The patches
# ---------------------------------------------------------------------------------------------

_applied = False


def apply() -> None:
    """Patches moto (idempotent). Call once, before the server serves requests."""
    global _applied
    with _lock:
        if _applied:
            return
        _patch_launch_permissions()
        _patch_disabled_images()
        _patch_describe_images()
        _patch_deregistration()
        _patch_snapshots()
        _patch_workspaces()
        _patch_kms()
        _applied = True


def _patch_launch_permissions() -> None:
    """Rule 2 on launch permissions; rule 4's refusal to share a disabled AMI.

    ModifyImageAttribute on a disabled AMI: "A disabled AMI can't be shared."
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImage.html). AWS documents no
    code; InvalidAMIID.Unavailable is the code EC2 really answers to ModifyImageAttribute on an AMI
    that is not available ("The AMI ID '...' is currently pending and may not be used for this
    operation"), and its documented meaning is "The specified AMI has been deregistered or is in an
    invalid state" (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
    Removing a permission from a disabled AMI is let through (it has none: DisableImage removed them).
    """
    from moto.ec2.models.amis import AmiBackend

    modify_original = AmiBackend.modify_image_attribute
    describe_original = AmiBackend.describe_image_attribute

    def ami_of(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self.amis.get(_arg("ami_id", 0)(*args, **kwargs))

    @_tracked_write(ami_of, lambda ami: copy.deepcopy(ami.launch_permissions))
    def tracked_modify(self: Any, *args: Any, **kwargs: Any) -> Any:
        return modify_original(self, *args, **kwargs)

    def modify_image_attribute(self: Any, *args: Any, **kwargs: Any) -> Any:
        ami = ami_of(self, *args, **kwargs)
        adds = kwargs.get("launch_permissions_to_add", args[1] if len(args) > 1 else [])
        if ami is not None and ami.state == "disabled" and adds and _on("disabled_images"):
            raise _ec2_error("InvalidAMIID.Unavailable", f"The AMI ID '{ami.id}' is currently disabled and may not be used for this operation")
        return tracked_modify(self, *args, **kwargs)

    def describe_image_attribute(self: Any, ami_id: str, attribute_name: str) -> Any:
        value = describe_original(self, ami_id, attribute_name)
        if attribute_name == "launch_permissions":
            stale, state = _stale(self.amis.get(ami_id))
            if stale:
                return state
        return value

    AmiBackend.modify_image_attribute = modify_image_attribute  # type: ignore[method-assign]
    AmiBackend.describe_image_attribute = describe_image_attribute  # type: ignore[method-assign]


def _patch_disabled_images() -> None:
    """Rule 4: DisableImage / EnableImage as EC2 documents them.

    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DisableImage.html: "Sets the AMI state
    to disabled and removes all launch permissions from the AMI." moto 5.2.5 sets the state only.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImage.html: "Amazon Web Services
    accounts, organizations, and Organizational Units that lost access to the AMI when it was disabled
    do not regain access automatically." (moto's EnableImage already only sets `available`.)
    """
    from moto.ec2.models.amis import AmiBackend

    disable_original = AmiBackend.disable_image

    def ami_of(self: Any, ami_id: str) -> Any:
        return self.amis.get(ami_id)

    @_tracked_write(ami_of, lambda ami: copy.deepcopy(ami.launch_permissions))
    def disable_image(self: Any, ami_id: str) -> None:
        disable_original(self, ami_id)
        if _on("disabled_images"):
            self.amis[ami_id].launch_permissions = []

    AmiBackend.disable_image = disable_image  # type: ignore[method-assign]


def _patch_describe_images() -> None:
    """Rule 4: DescribeImages omits disabled AMIs unless IncludeDisabled; rule 7: DeregistrationProtection.

    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html, IncludeDisabled:
    "Specifies whether to include disabled AMIs. Default: No disabled AMIs are included in the
    response." This also holds when the AMI is asked for by ImageIds: it is left out of the list (an
    empty list, not an error, as for a recently deregistered AMI).
    """
    from moto.core.responses import ActionResult
    from moto.ec2.models.amis import Ami
    from moto.ec2.responses.amis import AmisResponse

    def describe_images(self: Any) -> Any:
        self.error_on_dryrun()
        ami_ids = self._get_param("ImageIds", [])
        filters = self._filters_from_querystring()
        owners = self._get_param("Owners", [])
        exec_users = self._get_param("ExecutableUsers", [])
        include_disabled = self._get_param("IncludeDisabled", False) in (True, "true", "True")
        images = self.ec2_backend.describe_images(ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)
        if _on("disabled_images") and not include_disabled:
            images = [i for i in images if i.state != "disabled"]
        return ActionResult({"Images": images})

    AmisResponse.describe_images = describe_images  # type: ignore[method-assign]
    Ami.deregistration_protection = property(_protection_string)  # type: ignore[attr-defined]


def _patch_deregistration() -> None:
    """Rules 3 and 7 on DeregisterImage; the protection APIs.

    DeleteAssociatedSnapshots (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeregisterImage.html):
    "When deregistering an EBS-backed AMI, you can optionally delete its associated snapshots at the
    same time. However, if a snapshot is associated with multiple AMIs, it won't be deleted even if
    specified for deletion, although the AMI will still be deregistered." The answer lists each
    snapshot with ReturnCode `success` or `skipped` ("The snapshot was not deleted because it's
    associated with other AMIs"), as botocore's ec2 model (DeleteSnapshotReturnCode) has it.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.models.amis import AmiBackend
    from moto.ec2.responses.amis import AmisResponse

    deregister_original = AmiBackend.deregister_image

    def deregister_image_backend(self: Any, ami_id: str) -> None:
        ami = self.amis.get(ami_id)
        if ami is not None:
            _check_deregistration_allowed(ami)
            snapshot_ids = _snapshot_ids(ami)
        deregister_original(self, ami_id)
        if ami is not None:
            gone = self.__dict__.setdefault(_DEREGISTERED, {})
            now = time.monotonic()
            for snapshot_id in snapshot_ids:
                gone[snapshot_id] = (ami_id, now)

    def deregister_image(self: Any) -> Any:
        ami_id = self._get_param("ImageId")
        delete_snapshots = self._get_param("DeleteAssociatedSnapshots", False) in (True, "true", "True")
        self.error_on_dryrun()
        backend = self.ec2_backend
        ami = backend.amis.get(ami_id)
        snapshot_ids = _snapshot_ids(ami) if ami is not None else []
        backend.deregister_image(ami_id)
        result: Dict[str, Any] = {"Return": True}
        if delete_snapshots:
            in_use = {s for other in backend.amis.values() for s in _snapshot_ids(other)}
            results = []
            for snapshot_id in snapshot_ids:
                if snapshot_id in in_use:
                    results.append({"SnapshotId": snapshot_id, "ReturnCode": "skipped"})
                elif snapshot_id in backend.snapshots:
                    backend.snapshots.pop(snapshot_id)
                    backend.__dict__.get(_DEREGISTERED, {}).pop(snapshot_id, None)
                    results.append({"SnapshotId": snapshot_id, "ReturnCode": "success"})
            result["DeleteSnapshotResults"] = results
        return ActionResult(result)

    def image_for(self: Any) -> Any:
        from moto.ec2.exceptions import InvalidAMIIdError, UnvailableAMIIdError

        ami_id = self._get_param("ImageId")
        self.error_on_dryrun()
        backend = self.ec2_backend
        if ami_id in backend.amis:
            return backend.amis[ami_id]
        if ami_id in backend.deleted_amis:
            raise UnvailableAMIIdError(ami_id)
        raise InvalidAMIIdError(ami_id)

    def enable_image_deregistration_protection(self: Any) -> Any:
        ami = image_for(self)
        with_cooldown = self._get_param("WithCooldown", False) in (True, "true", "True")
        p = _protection(ami)
        p.update(enabled=True, cooldown=with_cooldown, until=None, until_wall=None)
        return ActionResult({"Return": _protection_string(ami)})

    def disable_image_deregistration_protection(self: Any) -> Any:
        ami = image_for(self)
        p = _protection(ami)
        if p["enabled"] and p["cooldown"]:
            cooldown = CONFIG.deregistration_cooldown_ms / 1000.0
            p.update(until=time.monotonic() + cooldown, until_wall=datetime.now(timezone.utc) + timedelta(seconds=cooldown))
        p.update(enabled=False, cooldown=False)
        return ActionResult({"Return": "disabled"})

    AmiBackend.deregister_image = deregister_image_backend  # type: ignore[method-assign]
    AmisResponse.deregister_image = deregister_image  # type: ignore[method-assign]
    AmisResponse.enable_image_deregistration_protection = enable_image_deregistration_protection  # type: ignore[attr-defined]
    AmisResponse.disable_image_deregistration_protection = disable_image_deregistration_protection  # type: ignore[attr-defined]


_DEREGISTERED = "_strict_aws_deregistered_snapshots"
MAX_SNAPSHOT_MODIFICATIONS = 500


def _patch_snapshots() -> None:
    """Rules 1, 2 and 3 on snapshots.

    Rule 1, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySnapshotAttribute.html:
    "You may add or remove specified Amazon Web Services account IDs from a snapshot's list of create
    volume permissions, but you cannot do both in a single operation. If you need to both add and
    remove account IDs for a snapshot, you must use multiple operations. You can make up to 500
    modifications to a snapshot in a single operation." AWS documents no error codes for these:
    InvalidParameterCombination (EC2's documented code for "Indicates an incorrect combination of
    parameters, or a missing parameter") for add and remove together, InvalidParameterValue ("A value
    specified in a parameter is not valid") for more than 500 changes
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
    The CreateVolumePermission.Add/Remove form (CreateVolumePermissionModifications in the same page)
    is understood too: moto 5.2.5 reads only OperationType + UserIds/GroupNames and ignores it.

    Rule 3, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSnapshot.html: "You
    cannot delete a snapshot of the root device of an EBS volume used by a registered AMI. You must
    first deregister the AMI before you can delete the snapshot." Right after DeregisterImage EC2 may
    still see the AMI (eventual consistency, as above) and answer InvalidSnapshot.InUse ("The snapshot
    ... is currently in use by ami-..."), the code moto already gives while the AMI is registered.
    """
    from moto.core.responses import ActionResult, EmptyResult
    from moto.ec2.exceptions import InvalidSnapshotInUse
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    def snapshot_of(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self.snapshots.get(_arg("snapshot_id", 0)(*args, **kwargs))

    def capture(snapshot: Any) -> Any:
        return (sorted(snapshot.create_volume_permission_groups), sorted(snapshot.create_volume_permission_userids))

    EBSBackend.add_create_volume_permission = _tracked_write(snapshot_of, capture)(EBSBackend.add_create_volume_permission)  # type: ignore[method-assign]
    EBSBackend.remove_create_volume_permission = _tracked_write(snapshot_of, capture)(EBSBackend.remove_create_volume_permission)  # type: ignore[method-assign]

    def describe_snapshot_attribute(self: Any) -> Any:
        snapshot_id = self._get_param("SnapshotId")
        snapshot = self.ec2_backend.get_snapshot(snapshot_id)
        stale, state = _stale(snapshot)
        groups, user_ids = state if stale else capture(snapshot)
        permissions = [{"Group": g} for g in groups] + [{"UserId": u} for u in user_ids]
        return ActionResult({"SnapshotId": snapshot_id, "CreateVolumePermissions": permissions})

    def modify_snapshot_attribute(self: Any) -> Any:
        snapshot_id = self._get_param("SnapshotId")
        operation_type = self._get_param("OperationType")
        add_users: List[str] = []
        add_groups: List[str] = []
        remove_users: List[str] = []
        remove_groups: List[str] = []
        if operation_type in ("add", "remove"):
            users = list(self._get_param("UserIds", []) or [])
            groups = list(self._get_param("GroupNames", []) or [])
            (add_users if operation_type == "add" else remove_users).extend(users)
            (add_groups if operation_type == "add" else remove_groups).extend(groups)
        modifications = self._get_param("CreateVolumePermission", {}) or {}
        for item in modifications.get("Add", []) or []:
            if item.get("UserId"):
                add_users.append(item["UserId"])
            if item.get("Group"):
                add_groups.append(item["Group"])
        for item in modifications.get("Remove", []) or []:
            if item.get("UserId"):
                remove_users.append(item["UserId"])
            if item.get("Group"):
                remove_groups.append(item["Group"])
        self.error_on_dryrun()
        if _on("snapshot_modify_limits"):
            if (add_users or add_groups) and (remove_users or remove_groups):
                raise _ec2_error(
                    "InvalidParameterCombination",
                    "You may add or remove create volume permissions, but you cannot do both in a single operation.",
                )
            count = len(add_users) + len(add_groups) + len(remove_users) + len(remove_groups)
            if count > MAX_SNAPSHOT_MODIFICATIONS:
                raise _ec2_error(
                    "InvalidParameterValue",
                    f"You can make up to {MAX_SNAPSHOT_MODIFICATIONS} modifications to a snapshot in a single operation; "
                    f"this request makes {count}.",
                )
        backend = self.ec2_backend
        backend.get_snapshot(snapshot_id)  # InvalidSnapshot.NotFound before anything changes
        if add_users or add_groups:
            backend.add_create_volume_permission(snapshot_id, user_ids=add_users, groups=add_groups)
        if remove_users or remove_groups:
            backend.remove_create_volume_permission(snapshot_id, user_ids=remove_users, groups=remove_groups)
        return EmptyResult()

    delete_original = EBSBackend.delete_snapshot

    def delete_snapshot(self: Any, snapshot_id: str) -> Any:
        window = _ms("snapshot_in_use_ms") / 1000.0
        entry = self.__dict__.get(_DEREGISTERED, {}).get(snapshot_id)
        if window > 0 and entry is not None and snapshot_id in self.snapshots and time.monotonic() - entry[1] < window:
            raise InvalidSnapshotInUse(snapshot_id, entry[0])
        result = delete_original(self, snapshot_id)
        self.__dict__.get(_DEREGISTERED, {}).pop(snapshot_id, None)
        return result

    ElasticBlockStore.describe_snapshot_attribute = describe_snapshot_attribute  # type: ignore[method-assign]
    ElasticBlockStore.modify_snapshot_attribute = modify_snapshot_attribute  # type: ignore[method-assign]
    EBSBackend.delete_snapshot = delete_snapshot  # type: ignore[method-assign]


def _patch_workspaces() -> None:
    """Rules 2 and 5 on WorkSpaces images.

    https://docs.aws.amazon.com/workspaces/latest/api/API_UpdateWorkspaceImagePermission.html,
    AllowCopyImage: "The permission to copy the image. This permission can be revoked only after an
    image has been shared." AWS names no code for revoking an account that does not hold the share;
    InvalidParameterValuesException ("One or more parameter values are not valid.", listed for this
    operation) is chosen. An unknown image: ResourceNotFoundException ("The resource could not be
    found.", listed for this operation; moto 5.2.5 fails with HTTP 500).

    DeleteWorkspaceImage (moto lacks it),
    https://docs.aws.amazon.com/workspaces/latest/api/API_DeleteWorkspaceImage.html: "To delete an
    image, you must first delete any bundles that are associated with the image and unshare the image
    if it is shared with other accounts." The refusal is InvalidResourceStateException ("The state of
    the resource is not valid for this operation.", listed for this operation). An unknown image:
    ResourceNotFoundException (not listed for this operation; chosen as WorkSpaces' code for an unknown
    resource elsewhere). moto has no bundles made from images, so the bundle rule cannot arise.
    """
    from moto.workspaces.exceptions import InvalidParameterValuesException, ResourceNotFoundException
    from moto.workspaces.models import WorkSpacesBackend
    from moto.workspaces.responses import WorkSpacesResponse

    update_original = WorkSpacesBackend.update_workspace_image_permission
    describe_original = WorkSpacesBackend.describe_workspace_image_permissions

    def image_of(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self.workspace_images.get(_arg("image_id", 0)(*args, **kwargs))

    @_tracked_write(image_of, lambda image: copy.deepcopy(image.image_permissions))
    def tracked_update(self: Any, *args: Any, **kwargs: Any) -> None:
        update_original(self, *args, **kwargs)

    def update_workspace_image_permission(self: Any, image_id: str, allow_copy_image: bool, shared_account_id: str) -> None:
        image = self.workspace_images.get(image_id)
        if image is None:
            raise ResourceNotFoundException(f"The image {image_id} could not be found.")
        if not allow_copy_image and _on("workspaces_refusals"):
            if {"SharedAccountId": shared_account_id} not in image.image_permissions:
                raise InvalidParameterValuesException("The image is not shared with the specified account.")
        tracked_update(self, image_id=image_id, allow_copy_image=allow_copy_image, shared_account_id=shared_account_id)

    def describe_workspace_image_permissions(self: Any, image_id: str) -> Any:
        image_id_out, permissions = describe_original(self, image_id)
        stale, state = _stale(self.workspace_images.get(image_id))
        return image_id_out, (state if stale else permissions)

    def delete_workspace_image(self: Any, image_id: str) -> None:
        image = self.workspace_images.get(image_id)
        if image is None:
            raise ResourceNotFoundException(f"The image {image_id} could not be found.")
        if image.image_permissions and _on("workspaces_refusals"):
            raise InvalidResourceStateException("The image is shared with other accounts: unshare it before you delete it.")
        self.workspace_images.pop(image_id)

    def delete_workspace_image_response(self: Any) -> str:
        import json

        params = json.loads(self.body)
        self.workspaces_backend.delete_workspace_image(params.get("ImageId"))
        return "{}"

    WorkSpacesBackend.update_workspace_image_permission = update_workspace_image_permission  # type: ignore[method-assign]
    WorkSpacesBackend.describe_workspace_image_permissions = describe_workspace_image_permissions  # type: ignore[method-assign]
    WorkSpacesBackend.delete_workspace_image = delete_workspace_image  # type: ignore[attr-defined]
    WorkSpacesResponse.delete_workspace_image = delete_workspace_image_response  # type: ignore[attr-defined]


def InvalidResourceStateException(message: str) -> Exception:  # noqa: N802 (reads like the class moto lacks)
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError("InvalidResourceStateException", message)
    error.code = 400
    return error


def _patch_kms() -> None:
    """Rules 2 and 6 on KMS grants.

    Rule 6, https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html, Name: "When
    this value is present, you can retry a CreateGrant request with identical parameters; if the grant
    already exists, the original GrantId is returned without creating a new grant. Note that the
    returned grant token is unique with every CreateGrant request, even when a duplicate GrantId is
    returned." Identical = same key, grantee principal, operations, constraints and retiring
    principal; a different one under the same name is a new grant. Revoked and retired grants are
    gone from the key (moto removes them), so they never match.
    """
    from moto.kms.models import Key, KmsBackend
    from moto.moto_api._internal import mock_random

    def grants_of(key: Any) -> Dict[str, Any]:
        return dict(key.grants)

    def key_self(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self

    for name in ("add_grant", "revoke_grant", "retire_grant", "retire_grant_by_token"):
        setattr(Key, name, _tracked_write(key_self, grants_of)(getattr(Key, name)))

    def list_grants(self: Any, grant_id: str) -> List[Any]:
        stale, state = _stale(self)
        grants = state if stale else self.grants
        return [g for _id, g in grants.items() if not grant_id or _id == grant_id]

    Key.list_grants = list_grants  # type: ignore[method-assign]

    create_original = KmsBackend.create_grant

    def same(a: Any, b: Any) -> bool:
        return (a or None) == (b or None)

    def create_grant(self: Any, key_id: str, grantee_principal: str, operations: List[str], name: str,
                     constraints: Dict[str, Any], retiring_principal: str) -> Tuple[str, str]:
        if name and _on("grant_name_idempotency"):
            key = self.describe_key(key_id)
            for grant in list(key.grants.values()):
                if (grant.name == name and grant.grantee_principal == grantee_principal
                        and sorted(grant.operations or []) == sorted(operations or [])
                        and same(grant.constraints, constraints) and same(grant.retiring_principal, retiring_principal)):
                    return grant.id, mock_random.get_random_hex()
        return create_original(self, key_id, grantee_principal, operations, name, constraints=constraints,
                               retiring_principal=retiring_principal)

    KmsBackend.create_grant = create_grant  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------
# Hand-made shares (control command /seed/share)
# ---------------------------------------------------------------------------------------------


def seed_share(body: Dict[str, Any], ec2_backend: Callable[[str, str], Any], workspaces_backend: Callable[[str, str], Any]) -> Dict[str, Any]:
    """Adds/removes shares as if made by hand long ago: no consistency window opens and no refusal
    applies (e.g. an outside share on a disabled AMI is still refused by AWS, but a test may need the
    state). Body: {"kind": "launch"|"snapshot"|"workspaces", "id", "add"?: [...], "remove"?: [...],
    "region"?, "account"?}. `launch` entries are account ids or {"UserId"|"Group"|"OrganizationArn"|
    "OrganizationalUnitArn": value}; `snapshot` entries are account ids or "all"."""
    kind = body.get("kind")
    resource_id = body.get("id")
    add = body.get("add") or []
    remove = body.get("remove") or []
    if kind not in ("launch", "snapshot", "workspaces"):
        raise ConfigError(f"kind must be launch, snapshot or workspaces, got {kind!r}")
    if not isinstance(resource_id, str) or not resource_id:
        raise ConfigError(f"id must be a non-empty string, got {resource_id!r}")
    if not isinstance(add, list) or not isinstance(remove, list):
        raise ConfigError("add and remove must be lists")
    region = body.get("region") or "us-east-1"
    account = body.get("account") or "123456789012"

    def launch_entry(e: Any) -> Dict[str, str]:
        if isinstance(e, str):
            return {"Group": e} if e == "all" else {"UserId": e}
        if isinstance(e, dict) and len(e) == 1:
            return {str(k): str(v) for k, v in e.items()}
        raise ConfigError(f"not a launch permission: {e!r}")

    if kind == "launch":
        ami = ec2_backend(account, region).amis.get(resource_id)
        if ami is None:
            raise LookupError(f"AMI {resource_id} not found in account {account} region {region}")
        for e in map(launch_entry, add):
            if e not in ami.launch_permissions:
                ami.launch_permissions.append(e)
        for e in map(launch_entry, remove):
            if e in ami.launch_permissions:
                ami.launch_permissions.remove(e)
        return {"id": ami.id, "launch_permissions": copy.deepcopy(ami.launch_permissions)}
    if kind == "snapshot":
        snapshot = ec2_backend(account, region).snapshots.get(resource_id)
        if snapshot is None:
            raise LookupError(f"snapshot {resource_id} not found in account {account} region {region}")
        for e in add:
            (snapshot.create_volume_permission_groups if e == "all" else snapshot.create_volume_permission_userids).add(str(e))
        for e in remove:
            (snapshot.create_volume_permission_groups if e == "all" else snapshot.create_volume_permission_userids).discard(str(e))
        return {"id": snapshot.id, "groups": sorted(snapshot.create_volume_permission_groups),
                "user_ids": sorted(snapshot.create_volume_permission_userids)}
    image = workspaces_backend(account, region).workspace_images.get(resource_id)
    if image is None:
        raise LookupError(f"WorkSpaces image {resource_id} not found in account {account} region {region}")
    for e in add:
        if {"SharedAccountId": str(e)} not in image.image_permissions:
            image.image_permissions.append({"SharedAccountId": str(e)})
    image.image_permissions = [p for p in image.image_permissions if p["SharedAccountId"] not in {str(e) for e in remove}]
    return {"id": resource_id, "shared_accounts": [p["SharedAccountId"] for p in image.image_permissions]}
