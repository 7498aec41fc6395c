"""moto 5.2.5 in server mode, with the parts that bakery's chain needs and moto lacks.

Started by `scripts/local-aws` as `python -m bakery_moto -H 127.0.0.1 -p PORT`.
Everything here follows AWS's documented behaviour; what moto does well is left alone.

What it adds (see tests/emulator/README.md for the control API):
- EC2 state transitions that take time: instances `pending` -> `running`,
  `stopping` -> `stopped`, `shutting-down` -> `terminated`; images `pending` -> `available`
  (or `failed`, when a test asks for it).
- CreateImage with a `snapshot` TagSpecification (moto: HTTP 500).
- EnableImageDeprecation / DisableImageDeprecation, with DeprecationTime in DescribeImages.
- SSM DescribeInstanceInformation: running EC2 instances with an instance profile and
  a way to SSM (VPC endpoints, a NAT, or a public address behind the internet gateway)
  come online a configurable time after they are running.
- The default VPC has its internet gateway and default route, as in AWS.
- SSM SendCommand only on the instances it names (moto: every instance of the region),
  refused with InvalidInstanceId for instances that are not online, and invocations that
  are `InProgress` for a while and then end with the outcome a test chose
  (status, exit code, output) by matching the command text.
- DescribeImageReferences: the instances and launch templates that use an image.
- SendCommand's CloudWatchOutputConfig, kept and shown by ListCommands.
- Snapshots of encrypted volumes, and of encrypted copies, carry their KMS key, as its
  ARN whatever form the call named it in (as DescribeSnapshots answers on AWS).
- Faults: the next N calls of an action (or a share of every call of a service, or all
  of them) answer with a chosen error (throttling, 5xx), late, or after taking effect.
- DescribeRegions: the account has opted in to the opt-in regions (unless told not).
- SSM public parameters /aws/service/ami-windows-latest/…, with a current Windows
  Server image in each region (moto publishes only the Amazon Linux ones).
- Instance metadata (IMDSv2 only) for each emulated instance under
  /bakery-imds/<instance-id>/, with its region and tags, for the firstboot agent's tests.

Settings are per region (tests use one region each, so they can run in parallel) with
a "*" default, set over HTTP at /bakery-emulator/config.
"""

from __future__ import annotations

import datetime
import io
import json
import random
import re
import sys
import threading
import types
import time
import uuid
from collections import defaultdict
from typing import Any

import moto

PINNED_MOTO = "5.2.5"
if moto.__version__ != PINNED_MOTO:
    sys.exit(
        f"bakery_moto: written for moto {PINNED_MOTO}, found {moto.__version__}; "
        "install the pinned version (scripts/local-aws does)"
    )

from moto.core.responses import ActionResult  # noqa: E402
from moto.ec2.models import ec2_backends  # noqa: E402
from moto.ec2.models.amis import AMIS, Ami, AmiBackend  # noqa: E402
from moto.ec2.models.instances import Instance  # noqa: E402
from moto.ec2.responses.amis import AmisResponse  # noqa: E402
from moto.ssm.exceptions import SSMException  # noqa: E402
from moto.ssm.models import Command, Parameter, ParameterDict, SimpleSystemManagerBackend  # noqa: E402
from moto.ssm.responses import SimpleSystemManagerResponse  # noqa: E402

DEFAULTS: dict[str, Any] = {
    "instance_pending_seconds": 0.0,
    "instance_stopping_seconds": 0.0,
    "instance_shutting_down_seconds": 0.0,
    "image_pending_seconds": 0.0,
    # "available" or "failed": where a pending image ends up.
    "image_final_state": "available",
    "ssm_online_after_seconds": 0.0,
    "command_seconds": 0.0,
    # [{"match": "substring of the command text", "status": "Failed", "exit_code": 1,
    #   "stdout": "...", "stderr": "...", "seconds": 2}]
    "command_outcomes": [],
    # The emulated account has opted in to the region (AWS: DescribeRegions says
    # "opted-in"; "not-opted-in" regions refuse every call with OptInRequired).
    "opted_in": True,
    # Client tokens of RunInstances and CopyImage as EC2 honours them (False: as moto
    # does, for the conformance tests' proof that they test something).
    "client_tokens": True,
    # EnableImageDeprecation refuses a past date and one more than 10 years ahead.
    "deprecation_dates_checked": True,
    # CopyImage puts its TagSpecifications on the copy and its snapshot.
    "copy_image_tags": True,
    # RunInstances refuses io1/io2 volumes without Iops, and Iops or Throughput where
    # the volume type takes none.
    "volume_parameters_checked": True,
    # DescribeImages leaves disabled images out unless IncludeDisabled.
    "disabled_images_hidden": True,
    # Parameter Store's value sizes: 4 KB standard, 8 KB advanced.
    "parameter_value_limits": True,
    # Seconds a created instance, image or security group stays invisible to Describe
    # (0: visible at once, as moto does).
    "eventual_consistency_seconds": 2.0,
    # Tag keys every RunInstances, CreateImage, CopyImage and CreateSecurityGroup must
    # give at creation ([]: none, as an account without such a policy).
    "required_tags": [],
    # EC2's token buckets per action, as AWS meters an account's requests.
    "request_meter": True,
    # GetCommandInvocation keeps the first 24,000 characters of stdout, 8,000 of stderr.
    "ssm_output_limits": True,
    # A parameter of data type aws:ec2:image is written only when its AMI exists.
    "image_parameters_checked": True,
    # TerminateInstances on an instance already shutting down or terminated succeeds.
    "terminate_idempotent": True,
    # Parameter Store's default throughput: 40 transactions a second per region.
    "parameter_store_meter": True,
    # The switches below turn each of these additions off, so that the emulator does
    # what moto alone does (for the conformance tests' proof that they test something).
    # DisableImageDeprecation clears DeprecationTime (moto: HTTP 500).
    "disable_image_deprecation": True,
    # CreateImage puts a `snapshot` TagSpecification on the image's snapshot (moto: HTTP 500).
    "create_image_snapshot_tags": True,
    # CreateImage snapshots the root volume with its encryption and key; CopyImage
    # encrypts the copy's snapshot as its Encrypted/KmsKeyId ask (moto: unencrypted).
    "image_snapshot_encryption": True,
    # SSM DescribeInstanceInformation (moto: HTTP 500).
    "instance_information": True,
    # A default VPC is made with its internet gateway and default route (moto: neither).
    "default_vpc_gateway": True,
    # SendCommand runs only on the instances it names and refuses unmanaged ones
    # (moto: runs on every instance of the region).
    "send_command_targets": True,
    # SendCommand's CloudWatchOutputConfig kept and shown by ListCommands (moto: dropped).
    "command_cloudwatch_output": True,
    # DescribeImageReferences (moto: HTTP 500).
    "image_references": True,
    # Regions not opted in to say so in DescribeRegions and refuse every call; the
    # opted-in ones say "opted-in" (moto: opt-in regions "not-opted-in", yet served).
    "opt_in_regions": True,
    # SSM's /aws/service/ami-windows-latest/ parameters and their image (moto: none).
    "windows_parameters": True,
    # RunInstances resolves `resolve:ssm:` image ids and refuses an instance type that
    # cannot run the image's architecture (moto: neither).
    "run_instances_image_checks": True,
    # Instance metadata under /bakery-imds/<instance-id>/ (moto: none).
    "instance_metadata": True,
    # A command that exits 194 (AWS-RunShellScript) or 3010 (AWS-RunPowerShellScript)
    # reboots its instance and runs again once it is back (moto: it just fails).
    "command_reboots": True,
    # Seconds SSM Agent's node takes to reboot for such a command (its agent offline).
    "reboot_seconds": 0.0,
}


class Settings:
    """Per-region emulator settings and one-shot faults, shared by all request threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_region: dict[str, dict[str, Any]] = {}
        # [{"action": "DescribeImages", "region": "*", "times": 2, "status": 503,
        #   "code": "RequestLimitExceeded", "message": "..."}]; "action": "*" with
        # "service" for every call of a service; "times": null for a fault that stays;
        # "probability" for a share of the calls; "delay_seconds" to hold the answer.
        # {"clear_faults": true} removes the region's faults.
        self.faults: list[dict[str, Any]] = []
        # Faults with a probability draw from this, seeded, so runs repeat.
        self.random = random.Random(7)

    def reset(self) -> None:
        with self.lock:
            self.by_region.clear()
            self.faults.clear()
            self.random.seed(7)

    def update(self, body: dict[str, Any]) -> dict[str, Any]:
        region = body.pop("region", "*")
        faults = body.pop("faults", None)
        clear_faults = body.pop("clear_faults", False)
        unknown = sorted(set(body) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown settings {unknown}; accepted: {sorted(DEFAULTS)}")
        with self.lock:
            self.by_region.setdefault(region, {}).update(body)
            if clear_faults:
                self.faults = [f for f in self.faults if f["region"] != region]
            if faults is not None:
                for fault in faults:
                    fault.setdefault("region", region)
                    fault.setdefault("times", 1)
                self.faults.extend(faults)
            return self.snapshot(region)

    def snapshot(self, region: str) -> dict[str, Any]:
        merged = dict(DEFAULTS)
        merged.update(self.by_region.get("*", {}))
        if region != "*":
            merged.update(self.by_region.get(region, {}))
        return merged

    def get(self, region: str, key: str) -> Any:
        with self.lock:
            return self.snapshot(region)[key]

    def take_fault(self, action: str, service: str, region: str) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if fault["action"] not in ("*", action) or fault["region"] not in ("*", region):
                    continue
                if fault.get("service", service) != service:
                    continue
                if self.random.random() >= float(fault.get("probability", 1.0)):
                    continue
                if fault["times"] is not None:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self.faults.remove(fault)
                return dict(fault)
        return None


SETTINGS = Settings()


# ---------------------------------------------------------------- state transitions


class Transition:
    """A state that becomes another one at a given moment (monotonic clock)."""

    def __init__(self, final: Any, seconds: float) -> None:
        self.final = final
        self.at = time.monotonic() + seconds

    def due(self) -> bool:
        return time.monotonic() >= self.at


def _instance_state_get(self: Instance) -> Any:
    state = self.__dict__["_bakery_state"]
    transition = self.__dict__.get("_bakery_transition")
    if transition is not None and transition.due():
        state.name, state.code = transition.final
        del self.__dict__["_bakery_transition"]
        # Running since the transition ended, not since someone looked: the agent's
        # registration counts from the boot (a look later must not delay it).
        if state.name == "running":
            self.__dict__["_bakery_running_since"] = transition.at
    return state


def _instance_state_set(self: Instance, value: Any) -> None:
    self.__dict__["_bakery_state"] = value
    self.__dict__.pop("_bakery_transition", None)


Instance._state = property(_instance_state_get, _instance_state_set)  # type: ignore[assignment]


def _delay_instance(
    instance: Instance, transient: tuple[str, int], final: tuple[str, int], key: str
) -> None:
    seconds = float(SETTINGS.get(instance.region_name, key))
    state = instance.__dict__["_bakery_state"]
    # A new change replaces one under way: an instance terminated while `pending`
    # never becomes `running` (moto sets the state in place, past the setter).
    instance.__dict__.pop("_bakery_transition", None)
    if seconds > 0:
        state.name, state.code = transient
        instance.__dict__["_bakery_transition"] = Transition(final, seconds)
    elif final[0] == "running":
        instance.__dict__["_bakery_running_since"] = time.monotonic()


_original_instance_init = Instance.__init__
_original_start = Instance.start
_original_stop = Instance.stop
_original_terminate = Instance.terminate


def _instance_init(self: Instance, *args: Any, **kwargs: Any) -> None:
    _original_instance_init(self, *args, **kwargs)
    _delay_instance(self, ("pending", 0), ("running", 16), "instance_pending_seconds")


def _instance_start(self: Instance) -> Any:
    previous = _original_start(self)
    _delay_instance(self, ("pending", 0), ("running", 16), "instance_pending_seconds")
    return previous


def _instance_stop(self: Instance) -> Any:
    previous = _original_stop(self)
    self.__dict__.pop("_bakery_running_since", None)
    _delay_instance(self, ("stopping", 64), ("stopped", 80), "instance_stopping_seconds")
    return previous


def _instance_terminate(self: Instance) -> Any:
    # AWS (EC2 Developer Guide, "Ensuring idempotency in Amazon EC2 API requests"):
    # TerminateInstances is idempotent by default; terminating an instance that is
    # already going or gone succeeds. moto fails the second time on the interface it
    # already deleted (InvalidNetworkInterfaceID.NotFound).
    state = self.__dict__["_bakery_state"]
    going = state.name in ("shutting-down", "terminated")
    if going and SETTINGS.get(self.region_name, "terminate_idempotent"):
        return state
    previous = _original_terminate(self)
    self.__dict__.pop("_bakery_running_since", None)
    _delay_instance(
        self, ("shutting-down", 32), ("terminated", 48), "instance_shutting_down_seconds"
    )
    return previous


Instance.__init__ = _instance_init  # type: ignore[method-assign]
Instance.start = _instance_start  # type: ignore[method-assign]
Instance.stop = _instance_stop  # type: ignore[method-assign]
Instance.terminate = _instance_terminate  # type: ignore[method-assign]


def _image_state_get(self: Ami) -> str:
    transition = self.__dict__.get("_bakery_transition")
    if transition is not None and transition.due():
        self.__dict__["_bakery_state"] = transition.final
        del self.__dict__["_bakery_transition"]
        if transition.final == "failed":
            self.__dict__["state_reason"] = {
                "Code": "Server.InternalError",
                "Message": "Server.InternalError: Internal error on launch",
            }
    return self.__dict__["_bakery_state"]


def _image_state_set(self: Ami, value: str) -> None:
    self.__dict__["_bakery_state"] = value
    self.__dict__.pop("_bakery_transition", None)


Ami.state = property(_image_state_get, _image_state_set)  # type: ignore[assignment]
Ami.state_reason = None  # serialised as StateReason when set
Ami.deprecation_time = None  # serialised as DeprecationTime when set


def _delay_image(ami: Ami) -> None:
    region = ami.ec2_backend.region_name
    seconds = float(SETTINGS.get(region, "image_pending_seconds"))
    final = SETTINGS.get(region, "image_final_state")
    if seconds > 0 or final != "available":
        ami.__dict__["_bakery_state"] = "pending"
        ami.__dict__["_bakery_transition"] = Transition(final, seconds)


_original_create_image = AmiBackend.create_image
_original_copy_image = AmiBackend.copy_image


from moto.ec2.exceptions import EC2ClientError  # noqa: E402


class InvalidAMINameDuplicate(EC2ClientError):
    def __init__(self, name: str):
        super().__init__(
            "InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI in this account"
        )


def _refuse_duplicate_name(backend: AmiBackend, name: str) -> None:
    """AWS: an account's image names are unique in a region (moto does not check)."""
    for ami in backend.amis.values():
        if ami.name == name and getattr(ami, "owner_id", None) == backend.account_id:
            raise InvalidAMINameDuplicate(name)


def _create_image(
    self: AmiBackend,
    instance_id: str,
    name: str,
    description: str,
    tag_specifications: list[dict[str, Any]],
) -> Ami:
    _refuse_duplicate_name(self, name)
    snapshot_tags: list[dict[str, str]] = []
    image_specs = []
    tags_on = SETTINGS.get(self.region_name, "create_image_snapshot_tags")
    for spec in tag_specifications:
        if spec["ResourceType"] == "snapshot" and tags_on:
            snapshot_tags += spec.get("Tags", [])
        else:
            image_specs.append(spec)
    ami = _original_create_image(self, instance_id, name, description, image_specs)
    # moto snapshots a fresh volume; AWS snapshots the root volume, keeping its
    # encryption and KMS key.
    instance = self.get_instance(instance_id)
    mapping = instance.block_device_mapping
    root = mapping.get(instance.root_device_name) or next(iter(mapping.values()), None)
    encryption_on = SETTINGS.get(self.region_name, "image_snapshot_encryption")
    if root is not None and getattr(root, "volume_id", None) and encryption_on:
        volume = self.get_volume(root.volume_id)
        ami.ebs_snapshot.encrypted = volume.encrypted
        ami.ebs_snapshot.kms_key_id = _key_arn(self.account_id, self.region_name, volume.kms_key_id)
    for tag in snapshot_tags:
        ami.ebs_snapshot.add_tag(tag["Key"], tag["Value"])
    _delay_image(ami)
    _born(self.region_name, ami.id)
    return ami


_COPYING = threading.local()
_original_copy_image_response = AmisResponse.copy_image


def _copy_image_response(self: AmisResponse) -> Any:
    # moto drops CopyImage's Encrypted and KmsKeyId; kept for the copy's snapshot.
    _COPYING.encryption = (self._get_bool_param("Encrypted", False), self._get_param("KmsKeyId"))
    # AWS (EC2 API Reference, CopyImage, TagSpecifications): tags for the new image
    # (`image`) and its snapshots (`snapshot`) at creation; moto ignores them.
    _COPYING.tags = (
        self._parse_tag_specification() if SETTINGS.get(self.region, "copy_image_tags") else {}
    )
    try:
        return _original_copy_image_response(self)
    finally:
        _COPYING.encryption = None
        _COPYING.tags = {}


def _copy_image(self: AmiBackend, *args: Any, **kwargs: Any) -> Ami:
    name = kwargs.get("name", args[2] if len(args) > 2 else None)
    if name:
        _refuse_duplicate_name(self, name)
    ami = _original_copy_image(self, *args, **kwargs)
    encrypted, kms_key_id = getattr(_COPYING, "encryption", None) or (False, None)
    encryption_on = SETTINGS.get(self.region_name, "image_snapshot_encryption")
    if (encrypted or kms_key_id) and encryption_on:
        ami.ebs_snapshot.encrypted = True
        ami.ebs_snapshot.kms_key_id = _key_arn(self.account_id, self.region_name, kms_key_id)
    tags = getattr(_COPYING, "tags", None) or {}
    unknown = sorted(set(tags) - {"image", "snapshot"})
    if unknown:
        raise InvalidParameterValue(
            f"'{unknown[0]}' is not a valid taggable resource type for this operation."
        )
    for key, value in tags.get("image", {}).items():
        self.create_tags([ami.id], {key: value})
    for key, value in tags.get("snapshot", {}).items():
        ami.ebs_snapshot.add_tag(key, value)
    _delay_image(ami)
    _born(self.region_name, ami.id)
    return ami


AmisResponse.copy_image = _copy_image_response  # type: ignore[method-assign]


# ---------------------------------------------------------------- idempotency (ClientToken)
# AWS (Amazon EC2 Developer Guide, "Ensuring idempotency in Amazon EC2 API requests"):
# RunInstances and CopyImage take a client token. A request repeated with the same token
# and the same parameters succeeds without acting again and returns the first request's
# result; the same token with any other parameter changed (the region and Availability
# Zone aside) fails with IdempotentParameterMismatch. moto acts on every call.

from moto.ec2.models.instance_types import INSTANCE_TYPES  # noqa: E402
from moto.ec2.responses.instances import InstanceResponse  # noqa: E402
from moto.ssm.models import ssm_backends  # noqa: E402

_original_run_instances_response = InstanceResponse.run_instances

# What makes two requests "the same" is every parameter but these.
_NOT_PARAMETERS = {"Action", "Version", "ClientToken", "DryRun"}


class InvalidParameterValue(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameterValue", message)


class IdempotentParameterMismatch(EC2ClientError):
    def __init__(self) -> None:
        super().__init__(
            "IdempotentParameterMismatch",
            "Arguments on this idempotent request are inconsistent with arguments used in "
            "previous request(s).",
        )


class ClientTokens:
    """The first result of each (account, region, action, token), with the parameters
    it was asked with."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.first: dict[tuple[str, str, str, str], tuple[tuple[Any, ...], str]] = {}

    def clear(self) -> None:
        with self.lock:
            self.first.clear()

    def once(self, response: Any, action: str, act: Any, result_id: Any, replay: Any) -> Any:
        """`act()` unless the token was seen: then the first result (`replay(id)`; None
        when moto no longer has it) for the same parameters, IdempotentParameterMismatch
        for others."""
        token = response._get_param("ClientToken")
        if not token or response._get_bool_param("DryRun", False):
            return act()
        if not SETTINGS.get(response.region, "client_tokens"):
            return act()
        key = (response.current_account, response.region, action, token)
        parameters = tuple(sorted(
            (name, tuple(values)) for name, values in response.querystring.items()
            if name not in _NOT_PARAMETERS
        ))
        with self.lock:
            earlier = self.first.get(key)
            if earlier is not None and earlier[0] != parameters:
                raise IdempotentParameterMismatch()
            replayed = replay(earlier[1]) if earlier is not None else None
            if replayed is not None:
                return replayed
            result = act()
            self.first[key] = (parameters, result_id(result))
            return result


CLIENT_TOKENS = ClientTokens()


def _resolve_image(self: InstanceResponse) -> None:
    """AWS: `ImageId` may be `resolve:ssm:<parameter>[:<version>]`, the AMI the
    parameter holds (EC2 User Guide, "Use a Systems Manager parameter instead of an AMI
    ID"); an instance type runs only the architectures it supports (RunInstances refuses
    an arm64 AMI on t3, an x86_64 one on t4g)."""
    if not SETTINGS.get(self.region, "run_instances_image_checks"):
        return
    image_id = self._get_param("ImageId") or ""
    if image_id.startswith("resolve:ssm:"):
        reference = image_id[len("resolve:ssm:"):]
        parameter = ssm_backends[self.current_account][self.region].get_parameter(reference)
        if parameter is None:
            raise InvalidParameterValue(
                f"Invalid value '{image_id}' for imageId. The SSM parameter "
                f"{reference} is not found."
            )
        image_id = parameter.value
        self.querystring["ImageId"] = [image_id]
        if self.automated_parameter_parsing:
            self.params["ImageId"] = image_id
    ami = self.ec2_backend.amis.get(image_id)
    instance_type = self._get_param("InstanceType") or "m1.small"
    supported = (
        INSTANCE_TYPES.get(instance_type, {}).get("ProcessorInfo", {}).get("SupportedArchitectures")
    )
    if ami is not None and supported and ami.architecture not in supported:
        raise InvalidParameterValue(
            f"The architecture '{supported[0]}' of the specified instance type does not match "
            f"the architecture '{ami.architecture}' of the specified AMI. Specify an instance "
            "type and an AMI that have matching architectures, and try again. You can use "
            "'describe-instance-types' or 'describe-images' to discover the architecture of "
            "the instance type or AMI."
        )


def _reservation(backend: Any, reservation_id: str) -> Any:
    return next((r for r in backend.all_reservations() if r.id == reservation_id), None)


# EBS volumes (EC2 API Reference, EbsBlockDevice): `Iops` is required for io1 and io2
# and not supported for gp2, st1, sc1 or standard; `Throughput` is valid only for gp3.
# The reference names no error code; EC2 answers these with InvalidParameterCombination.
_IOPS = {"gp3": (3000, 16000), "io1": (100, 64000), "io2": (100, 256000)}


class InvalidParameterCombination(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameterCombination", message)


def _check_volumes(self: InstanceResponse) -> None:
    if not SETTINGS.get(self.region, "volume_parameters_checked"):
        return
    for mapping in self._get_param("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs") or {}
        kind, iops, throughput = ebs.get("VolumeType") or "gp2", ebs.get("Iops"), ebs.get("Throughput")
        if kind in ("io1", "io2") and iops is None:
            raise InvalidParameterCombination(f"The parameter iops must be specified for {kind} volumes.")
        if iops is not None and kind not in _IOPS:
            raise InvalidParameterCombination(f"The parameter iops is not supported for {kind} volumes.")
        if iops is not None and not _IOPS[kind][0] <= int(iops) <= _IOPS[kind][1]:
            low, high = _IOPS[kind]
            raise InvalidParameterValue(
                f"Volume of type '{kind}' must have IOPS between {low} and {high}."
            )
        if throughput is not None and kind != "gp3":
            raise InvalidParameterCombination(
                f"The parameter throughput is not supported for {kind} volumes."
            )


_LAUNCHING = threading.local()


def _volume_performance(self: InstanceResponse) -> dict[str, tuple[int | None, int | None]]:
    performance = {}
    for mapping in self._get_param("BlockDeviceMappings", []):
        ebs = mapping.get("Ebs") or {}
        number = lambda key: int(ebs[key]) if ebs.get(key) is not None else None  # noqa: E731
        performance[mapping.get("DeviceName")] = (number("Iops"), number("Throughput"))
    return performance


def _add_block_device(
    self: Instance, size: int, device_path: str, snapshot_id: str | None, encrypted: bool,
    delete_on_termination: bool, kms_key_id: str | None, volume_type: str | None = None,
) -> None:
    # moto drops a mapping's Iops and Throughput (and so refuses every io1 volume); AWS
    # makes the volume with them.
    performance = getattr(_LAUNCHING, "performance", None) or {}
    iops, throughput = performance.get(device_path, (None, None))
    volume = self.ec2_backend.create_volume(
        size=size, zone_name=self._placement.zone, snapshot_id=snapshot_id, encrypted=encrypted,
        kms_key_id=kms_key_id, volume_type=volume_type, iops=iops, throughput=throughput,
    )
    self.ec2_backend.attach_volume(volume.id, self.id, device_path, delete_on_termination)


Instance.add_block_device = _add_block_device  # type: ignore[method-assign]


def _replayed(reservation: Any) -> Any:
    return ActionResult(reservation) if reservation is not None else None


def _run_instances_response(self: InstanceResponse) -> Any:
    def act() -> Any:
        _resolve_image(self)
        _check_volumes(self)
        _LAUNCHING.performance = _volume_performance(self)
        try:
            result = _original_run_instances_response(self)
        finally:
            _LAUNCHING.performance = None
        for instance in result.result.instances:
            _born(self.region, instance.id)
        return result

    # The token is checked against the parameters as sent (a `resolve:ssm:` image id
    # stays a parameter, not the image it resolved to).
    return CLIENT_TOKENS.once(
        self,
        "RunInstances",
        act,
        lambda result: result.result.id,
        lambda reservation_id: _replayed(_reservation(self.ec2_backend, reservation_id)),
    )


InstanceResponse.run_instances = _run_instances_response  # type: ignore[method-assign]


def _copy_image_idempotent(self: AmisResponse) -> Any:
    return CLIENT_TOKENS.once(
        self,
        "CopyImage",
        lambda: _copy_image_response(self),
        lambda result: result.result["ImageId"],
        # Replayed even once the copy is gone: the token names that request for good.
        lambda image_id: ActionResult({"ImageId": image_id}),
    )


AmisResponse.copy_image = _copy_image_idempotent  # type: ignore[method-assign]


AmiBackend.create_image = _create_image  # type: ignore[method-assign]
AmiBackend.copy_image = _copy_image  # type: ignore[method-assign]


# ---------------------------------------------------------------- image deprecation


def _deprecation_time(value: Any) -> str:
    # AWS rounds the seconds to the nearest minute and answers in UTC, ISO 8601.
    if isinstance(value, datetime.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    else:
        when = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    when = when.astimezone(datetime.timezone.utc)
    if when.second >= 30:
        when += datetime.timedelta(minutes=1)
    when = when.replace(second=0, microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def enable_image_deprecation(self: AmisResponse) -> ActionResult:
    # AWS (EC2 API Reference, EnableImageDeprecation, DeprecateAt): "You can't specify a
    # date in the past", and at most 10 years ahead. The reference names no error code
    # for it; InvalidParameterValue is EC2's code for a parameter value it refuses.
    image_id = self._get_param("ImageId")
    deprecate_at = self._get_param("DeprecateAt")
    self.error_on_dryrun()
    ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]
    when = _deprecation_time(deprecate_at)
    if SETTINGS.get(self.region, "deprecation_dates_checked"):
        at = datetime.datetime.fromisoformat(when.replace("Z", "+00:00"))
        now = datetime.datetime.now(datetime.timezone.utc)
        if at < now:
            raise InvalidParameterValue(
                f"Value ({deprecate_at}) for parameter DeprecateAt is invalid. "
                "The deprecation time can't be in the past."
            )
        if at > now + datetime.timedelta(days=3653):
            raise InvalidParameterValue(
                f"Value ({deprecate_at}) for parameter DeprecateAt is invalid. "
                "The deprecation time can't be more than 10 years in the future."
            )
    ami.deprecation_time = when
    return ActionResult({"Return": True})


def _deprecation_passed(body: dict[str, Any]) -> dict[str, Any]:
    """A fixture, not an AWS call: the image's deprecation time is `at` (in the past),
    the state an image reaches on AWS once its deprecation time comes."""
    region, image_id = body["region"], body["image_id"]
    account = body.get("account", "123456789012")
    ami = ec2_backends[account][region].describe_images(ami_ids=[image_id])[0]
    ami.deprecation_time = _deprecation_time(body.get("at", "2020-01-01T00:00:00Z"))
    return {"image_id": image_id, "deprecation_time": ami.deprecation_time}


def _as_moto(region: str, setting: str, action: str) -> None:
    """With `setting` off, an action moto lacks answers as moto does (HTTP 500)."""
    if not SETTINGS.get(region, setting):
        raise NotImplementedError(f"The {action} action has not been implemented")


def disable_image_deprecation(self: AmisResponse) -> ActionResult:
    # AWS (EC2 API Reference, DisableImageDeprecation): cancels the deprecation.
    _as_moto(self.region, "disable_image_deprecation", "disable_image_deprecation")
    image_id = self._get_param("ImageId")
    self.error_on_dryrun()
    ami = self.ec2_backend.describe_images(ami_ids=[image_id])[0]
    ami.deprecation_time = None
    return ActionResult({"Return": True})


def describe_image_references(self: AmisResponse) -> ActionResult:
    """Instances and launch template versions that use the images. As AWS with
    IncludeAllResourceTypes (EC2 User Guide, "Identify your resources referencing
    specified AMIs"), instances in every state, terminated ones included. AWS also
    checks only the 10 latest versions of a launch template, and SSM parameters: not
    here."""
    _as_moto(self.region, "image_references", "describe_image_references")
    image_ids = set(self._get_param("ImageIds", []))
    backend = self.ec2_backend
    prefix = f"arn:aws:ec2:{backend.region_name}:{backend.account_id}"
    references = []
    for instance in backend.all_instances():
        if instance.image_id in image_ids:
            references.append({"ImageId": instance.image_id, "ResourceType": "ec2:Instance",
                               "Arn": f"{prefix}:instance/{instance.id}"})
    for template in backend.launch_templates.values():
        if any(v.image_id in image_ids for v in template.versions):
            image_id = next(v.image_id for v in template.versions if v.image_id in image_ids)
            references.append({"ImageId": image_id, "ResourceType": "ec2:LaunchTemplate",
                               "Arn": f"{prefix}:launch-template/{template.id}"})
    return ActionResult({"ImageReferences": references})


AmisResponse.describe_image_references = describe_image_references  # type: ignore[attr-defined]

# ---------------------------------------------------------------- tags required on create
# An account whose organisation requires tags at creation (an SCP or IAM policy with
# `aws:RequestTag/<key>` conditions on ec2:RunInstances, CreateImage, CopyImage and
# CreateSecurityGroup; IAM User Guide, "Controlling access during AWS requests"; EC2
# User Guide, "Grant permission to tag Amazon EC2 resources during creation") refuses a
# create whose TagSpecifications lack one of the keys, with UnauthorizedOperation.
# `required_tags` (a list of keys; empty: off) is that policy.

_TAGGED_TYPE = {
    "RunInstances": "instance",
    "CreateImage": "image",
    "CopyImage": "image",
    "CreateSecurityGroup": "security-group",
}


def _require_tags(response: Any, action: str) -> None:
    required = SETTINGS.get(response.region, "required_tags") or []
    if not required:
        return
    given = response._parse_tag_specification().get(_TAGGED_TYPE[action], {})
    missing = [key for key in required if key not in given]
    if missing:
        raise EC2ClientError(
            "UnauthorizedOperation",
            f"You are not authorized to perform this operation. User is not authorized to "
            f"perform: ec2:{action} because no tag {missing[0]} was given at creation "
            "(the account's tag policy).",
        )


def _requiring_tags(action: str, original: Any) -> Any:
    def call(self: Any) -> Any:
        _require_tags(self, action)
        return original(self)
    return call


# ---------------------------------------------------------------- eventual consistency
# AWS (EC2 Developer Guide, "Eventual consistency in the Amazon EC2 API"): a resource
# just created may not be visible at once. For a while, a Describe that names it
# answers as for a resource that does not exist (InvalidInstanceID.NotFound,
# InvalidGroup.NotFound, InvalidAMIID.NotFound), and a listing leaves it out. moto
# shows everything at once. `eventual_consistency_seconds` (0: off) sets the while.

from moto.ec2.responses.security_groups import SecurityGroups as SecurityGroupsResponse  # noqa: E402

_BORN: dict[str, tuple[str, float]] = {}
_BORN_LOCK = threading.Lock()


def _born(region: str, resource_id: str) -> None:
    with _BORN_LOCK:
        _BORN[resource_id] = (region, time.time())


def _unseen(region: str, resource_id: str) -> bool:
    window = float(SETTINGS.get(region, "eventual_consistency_seconds"))
    if window <= 0:
        return False
    with _BORN_LOCK:
        born = _BORN.get(resource_id)
    return born is not None and born[0] == region and time.time() - born[1] < window


def _refuse_unseen(region: str, ids: list[str], code: str, message: str) -> None:
    for resource_id in ids:
        if _unseen(region, resource_id):
            raise EC2ClientError(code, message.format(resource_id))


_original_describe_instances = InstanceResponse.describe_instances


def _describe_instances(self: InstanceResponse) -> Any:
    ids = self._get_param("InstanceIds", [])
    _refuse_unseen(self.region, ids, "InvalidInstanceID.NotFound",
                   "The instance ID '{}' does not exist")
    result = _original_describe_instances(self)
    result.result["Reservations"] = [
        r for r in result.result["Reservations"]
        if not all(_unseen(self.region, i.id) for i in r.instances)
    ]
    return result


InstanceResponse.describe_instances = _describe_instances  # type: ignore[method-assign]

_original_create_security_group = SecurityGroupsResponse.create_security_group
_original_describe_security_groups = SecurityGroupsResponse.describe_security_groups


def _create_security_group(self: Any) -> Any:
    result = _original_create_security_group(self)
    _born(self.region, result.result["GroupId"])
    return result


def _describe_security_groups(self: Any) -> Any:
    _refuse_unseen(self.region, self._get_param("GroupIds", []), "InvalidGroup.NotFound",
                   "The security group '{}' does not exist")
    result = _original_describe_security_groups(self)
    result.result["SecurityGroups"] = [
        g for g in result.result["SecurityGroups"] if not _unseen(self.region, g.id)
    ]
    return result


SecurityGroupsResponse.create_security_group = _requiring_tags(  # type: ignore[method-assign]
    "CreateSecurityGroup", _create_security_group
)
InstanceResponse.run_instances = _requiring_tags(  # type: ignore[method-assign]
    "RunInstances", InstanceResponse.run_instances
)
AmisResponse.copy_image = _requiring_tags(  # type: ignore[method-assign]
    "CopyImage", AmisResponse.copy_image
)
AmisResponse.create_image = _requiring_tags(  # type: ignore[method-assign]
    "CreateImage", AmisResponse.create_image
)
SecurityGroupsResponse.describe_security_groups = _describe_security_groups  # type: ignore[method-assign]


# ---------------------------------------------------------------- parameter tiers
# AWS (Systems Manager User Guide, "Managing parameter tiers"): a standard parameter's
# value is at most 4 KB, an advanced one's 8 KB; Intelligent-Tiering makes a parameter
# advanced when its value needs it. moto takes any size.

_original_put_parameter = SimpleSystemManagerBackend.put_parameter


def _image_visible(backend: SimpleSystemManagerBackend, image_id: str) -> bool:
    if not SETTINGS.get(backend.region_name, "image_parameters_checked"):
        return True
    amis = ec2_backends[backend.account_id][backend.region_name].amis
    return image_id in amis and not _unseen(backend.region_name, image_id)


def _put_parameter(self: SimpleSystemManagerBackend, name: str, description: str, value: str,
                   *args: Any, tier: str | None = None, **kwargs: Any) -> Any:
    data_type = args[5] if len(args) > 5 else kwargs.get("data_type")
    if data_type == "aws:ec2:image" and not _image_visible(self, value):
        # AWS (Systems Manager User Guide, "Native parameter support for Amazon Machine
        # Image IDs"): the AMI is validated after PutParameter returns; one that is not
        # there leaves the parameter as it was (not created, not updated).
        previous = self._parameters.get(name)
        version = previous[-1].version + 1 if previous else 1
        return types.SimpleNamespace(version=version, tier=tier or "Standard")
    if SETTINGS.get(self.region_name, "parameter_value_limits") and value:
        size = len(value.encode())
        previous = self._parameters.get(name)
        tier = tier or (previous[-1].tier if previous else None) or "Standard"
        if tier == "Intelligent-Tiering":
            tier = "Advanced" if size > 4096 else "Standard"
        if tier == "Standard" and size > 4096:
            raise SSMError(
                "ValidationException",
                "Standard tier parameters support a maximum parameter value of 4096 "
                "characters. To create a larger parameter value, upgrade the parameter to "
                "use the advanced-parameter tier.",
            )
        if size > 8192:
            raise SSMError(
                "ValidationException",
                "Advanced tier parameters support a maximum parameter value of 8192 characters.",
            )
    return _original_put_parameter(self, name, description, value, *args, tier=tier, **kwargs)


SimpleSystemManagerBackend.put_parameter = _put_parameter  # type: ignore[method-assign]

_original_describe_images = AmisResponse.describe_images


def _describe_images(self: AmisResponse) -> ActionResult:
    # AWS (EC2 API Reference, DescribeImages, IncludeDisabled): "Default: No disabled
    # AMIs are included in the response." moto lists them.
    _refuse_unseen(self.region, self._get_param("ImageIds", []), "InvalidAMIID.NotFound",
                   "The image id '[{}]' does not exist")
    result = _original_describe_images(self)
    result.result["Images"] = [i for i in result.result["Images"] if not _unseen(self.region, i.id)]
    hidden = SETTINGS.get(self.region, "disabled_images_hidden")
    if hidden and not self._get_bool_param("IncludeDisabled", False):
        result.result["Images"] = [i for i in result.result["Images"] if i.state != "disabled"]
    return result


AmisResponse.describe_images = _describe_images  # type: ignore[method-assign]
AmisResponse.enable_image_deprecation = enable_image_deprecation  # type: ignore[attr-defined]
AmisResponse.disable_image_deprecation = disable_image_deprecation  # type: ignore[attr-defined]


# ---------------------------------------------------------------- SSM managed instances


class SSMError(SSMException):
    # moto finds the service model of an error by the module of its class.
    __module__ = "moto.ssm.exceptions"


def _iso(seconds_since_epoch: float) -> str:
    return datetime.datetime.fromtimestamp(
        seconds_since_epoch, datetime.timezone.utc
    ).isoformat()


def _ssm_online(instance: Instance, region: str) -> bool:
    """An instance is SSM-managed when it runs, has an instance profile, and its agent
    had time to register (the agent needs the profile's credentials to call SSM)."""
    if instance.state != "running" or not instance.iam_instance_profile:
        return False
    if not _reaches_ssm(instance, region):
        return False
    since = instance.__dict__.get("_bakery_running_since")
    if since is None:
        return False
    return time.monotonic() - since >= float(
        SETTINGS.get(region, "ssm_online_after_seconds")
    ) and not _rebooting(instance)


def _managed_instances(region: str, account_id: str) -> list[Instance]:
    backend = ec2_backends[account_id][region]
    return [i for i in backend.all_instances() if _ssm_online(i, region)]


def _registered_instances(region: str, account_id: str) -> list[tuple[Instance, str]]:
    """Managed instances with their ping status: `ConnectionLost` while SSM Agent
    reboots one for a command (the agent told the service it would be away)."""
    backend = ec2_backends[account_id][region]
    found = []
    for instance in backend.all_instances():
        if _ssm_online(instance, region):
            found.append((instance, "Online"))
        elif instance.state == "running" and _rebooting(instance):
            found.append((instance, "ConnectionLost"))
    return found


def describe_instance_information(self: SimpleSystemManagerResponse) -> ActionResult:
    _as_moto(self.region, "instance_information", "describe_instance_information")
    wanted: set[str] | None = None
    for key, values in [
        (f.get("key"), f.get("valueSet", []))
        for f in self._get_param("InstanceInformationFilterList", [])
    ] + [(f.get("Key"), f.get("Values", [])) for f in self._get_param("Filters", [])]:
        if key == "InstanceIds":
            wanted = set(values) if wanted is None else wanted & set(values)
        elif key is not None:
            raise SSMError(
                "InvalidInstanceInformationFilterValue",
                f"bakery_moto supports only the InstanceIds filter, not {key}",
            )
    now = time.time()
    items = []
    for instance, ping in _registered_instances(self.region, self.current_account):
        if wanted is not None and instance.id not in wanted:
            continue
        windows = instance.platform == "windows"
        items.append(
            {
                "InstanceId": instance.id,
                "PingStatus": ping,
                "LastPingDateTime": _iso(now),
                "AgentVersion": "3.3.1142.0",
                "IsLatestVersion": True,
                "PlatformType": "Windows" if windows else "Linux",
                "PlatformName": "Microsoft Windows Server 2022 Datacenter"
                if windows
                else "Amazon Linux",
                "ResourceType": "EC2Instance",
                "IPAddress": instance.private_ip,
                "ComputerName": instance.private_dns_name if hasattr(instance, "private_dns_name") else instance.id,
                "AssociationStatus": "Success",
            }
        )
    return ActionResult({"InstanceInformationList": items})


SimpleSystemManagerResponse.describe_instance_information = describe_instance_information  # type: ignore[attr-defined]


# ---------------------------------------------------- SSM public parameters: Windows

# AWS publishes /aws/service/ami-windows-latest/<image name without its date> in every
# region, pointing at the newest Amazon Windows image of that name (`aws:ec2:image`).
# moto publishes only the Amazon Linux ones, and its Windows images stop at 2016: the
# emulator registers a current Windows Server image in the region (a copy of moto's
# Windows Server 2016 image under AWS's current name) and its parameter, on first use.
WINDOWS_LATEST = "/aws/service/ami-windows-latest/"
WINDOWS_IMAGES = {
    "Windows_Server-2022-English-Full-Base": "Windows_Server-2022-English-Full-Base-2026.11.12",
}
_original_check_loading_status = ParameterDict._check_loading_status


def _windows_image_id(region: str, name: str) -> str:
    return "ami-" + uuid.uuid5(uuid.NAMESPACE_DNS, f"{region}/{name}").hex[:17]


def _check_loading_status(self: ParameterDict, key: str) -> None:
    _original_check_loading_status(self, key)
    if not str(key or "").startswith(WINDOWS_LATEST[:-1]):
        return
    if not SETTINGS.get(self.region_name, "windows_parameters"):
        # As moto: no such parameters (those published while on are withdrawn).
        if self.__dict__.pop("_bakery_windows", None):
            for short_name in WINDOWS_IMAGES:
                dict.pop(self, WINDOWS_LATEST + short_name, None)
        return
    if self.__dict__.get("_bakery_windows"):
        return
    self.__dict__["_bakery_windows"] = True
    backend = ec2_backends[self.account_id][self.region_name]
    template = next(a for a in AMIS if a["ami_id"] == "ami-b7e93bce")
    published = datetime.datetime(2026, 11, 12, tzinfo=datetime.timezone.utc)
    for short_name, name in WINDOWS_IMAGES.items():
        ami_id = _windows_image_id(self.region_name, name)
        if ami_id not in backend.amis:
            backend.amis[ami_id] = Ami(
                backend,
                **{
                    **template,
                    "ami_id": ami_id,
                    "name": name,
                    "description": "Microsoft Windows Server 2022 Full Locale English AMI provided by Amazon",
                    "owner_alias": "amazon",
                    "creation_date": published,
                },
            )
        versions = defaultdict.__getitem__(self, WINDOWS_LATEST + short_name)
        if not versions:
            versions.append(
                Parameter(
                    account_id=self.account_id,
                    name=WINDOWS_LATEST + short_name,
                    value=ami_id,
                    parameter_type="String",
                    description=None,
                    allowed_pattern=None,
                    keyid=None,
                    last_modified_date=published,
                    version=1,
                    data_type="aws:ec2:image",
                )
            )


ParameterDict._check_loading_status = _check_loading_status  # type: ignore[method-assign]


# ---------------------------------------------------------------- SSM Run Command


_original_targets = Command._get_instance_ids_from_targets


def _instance_ids_from_targets(self: Command) -> list[str]:
    # moto resolves empty Targets to every instance of the region.
    if not SETTINGS.get(self.backend_region, "send_command_targets"):
        return _original_targets(self)
    return _original_targets(self) if self.targets else []


Command._get_instance_ids_from_targets = _instance_ids_from_targets  # type: ignore[method-assign]

def _chosen_outcome(region: str, text: str) -> dict[str, Any]:
    """The outcome of the first rule whose `match` is in the command's text."""
    outcome: dict[str, Any] = {"status": "Success", "exit_code": 0, "stdout": "", "stderr": ""}
    for rule in SETTINGS.get(region, "command_outcomes"):
        # `times`: the rule answers only the first N commands it matches.
        if rule.get("match", "") in text and rule.get("times", 1) > 0:
            if "times" in rule:
                rule["times"] -= 1
            outcome.update(rule)
            break
    return outcome


# AWS (Systems Manager User Guide, "Handling reboots when running commands"): a script
# that exits 194 (Linux and macOS) or 3010 (Windows) asks SSM Agent to reboot the node
# and to start the script again once the reboot is over; the agent tells the service
# first, and the invocation stays in progress across the reboot.
REBOOT_EXIT_CODES = {"AWS-RunShellScript": 194, "AWS-RunPowerShellScript": 3010}
# instance id -> [(monotonic start, monotonic end)] of the reboots SSM Agent made.
REBOOTS: dict[str, list[tuple[float, float]]] = defaultdict(list)
# The commands whose run now ends in a reboot: the only ones a reboot can come from.
ASKING_REBOOT: list[Command] = []
REBOOTS_LOCK = threading.Lock()


def _asks_reboot(command: Command, outcome: dict[str, Any]) -> bool:
    code = REBOOT_EXIT_CODES.get(command.document_name)
    return code is not None and int(outcome.get("exit_code", 0)) == code


def _advance(command: Command) -> None:
    """Plays a command's reboots up to now: each reboot takes `reboot_seconds`, then the
    same text runs again and meets the next rule that matches it."""
    region = command.__dict__.get("bakery_region")
    if region is None or not SETTINGS.get(region, "command_reboots"):
        return
    now = time.monotonic()
    with REBOOTS_LOCK:
        while _asks_reboot(command, command.bakery_outcome) and (
            now >= command.bakery_started + command.bakery_seconds
        ):
            start = command.bakery_started + command.bakery_seconds
            end = start + max(0.01, float(SETTINGS.get(region, "reboot_seconds")))
            for instance_id in command.instance_ids:
                REBOOTS[instance_id].append((start, end))
            command.bakery_outcome = _chosen_outcome(region, command.bakery_text)
            command.bakery_started = end
            command.bakery_seconds = float(
                command.bakery_outcome.get("seconds", SETTINGS.get(region, "command_seconds"))
            )
        if not _asks_reboot(command, command.bakery_outcome) and command in ASKING_REBOOT:
            ASKING_REBOOT.remove(command)


def _rebooting(instance: Instance) -> bool:
    """Whether SSM Agent is rebooting the instance for a command, now."""
    with REBOOTS_LOCK:
        asking = [c for c in ASKING_REBOOT if instance.id in c.instance_ids]
    for command in asking:
        _advance(command)
    now = time.monotonic()
    with REBOOTS_LOCK:
        return any(start <= now < end for start, end in REBOOTS.get(instance.id, []))


def reboots(region: str | None = None) -> dict[str, list[dict[str, str]]]:
    """GET /bakery-emulator/reboots: the reboots SSM Agent made, by instance."""
    offset = time.time() - time.monotonic()
    with REBOOTS_LOCK:
        return {
            instance_id: [
                {"started": _iso(start + offset), "ended": _iso(end + offset),
                 "started_seconds": start + offset, "ended_seconds": end + offset}
                for start, end in windows
            ]
            for instance_id, windows in REBOOTS.items()
        }


_original_send_command = SimpleSystemManagerBackend.send_command


def _send_command(self: SimpleSystemManagerBackend, **kwargs: Any) -> Command:
    managed = {i.id for i in _managed_instances(self.region_name, self.account_id)}
    checked = SETTINGS.get(self.region_name, "send_command_targets")
    for instance_id in kwargs.get("instance_ids") or []:
        if instance_id not in managed and checked:
            raise SSMError(
                "InvalidInstanceId",
                f"Instances [[{instance_id}]] not in a valid state for account "
                f"{self.account_id}",
            )
    command = _original_send_command(self, **kwargs)
    command.bakery_cloudwatch = getattr(_SENDING, "cloudwatch", None)  # type: ignore[attr-defined]
    text = "\n".join(kwargs.get("parameters", {}).get("commands", []))
    outcome = _chosen_outcome(self.region_name, text)
    seconds = float(outcome.get("seconds", SETTINGS.get(self.region_name, "command_seconds")))
    command.bakery_outcome = outcome  # type: ignore[attr-defined]
    command.bakery_text = text  # type: ignore[attr-defined]
    command.bakery_started = time.monotonic()  # type: ignore[attr-defined]
    command.bakery_seconds = seconds  # type: ignore[attr-defined]
    command.bakery_region = self.region_name  # type: ignore[attr-defined]
    if _asks_reboot(command, outcome):
        with REBOOTS_LOCK:
            ASKING_REBOOT.append(command)
    if seconds > 0:
        command.status = "InProgress"
    elif outcome["status"] != "Success":
        command.status = outcome["status"]
    return command


SimpleSystemManagerBackend.send_command = _send_command  # type: ignore[method-assign]

# SendCommand's CloudWatchOutputConfig: moto drops it; kept here and shown in
# ListCommands, so that tests can see where a bake sends step output.
_SENDING = threading.local()
_original_send_command_response = SimpleSystemManagerResponse.send_command
_original_command_response_object = Command.response_object


def _send_command_response(self: SimpleSystemManagerResponse) -> Any:
    kept = SETTINGS.get(self.region, "command_cloudwatch_output")
    _SENDING.cloudwatch = self._get_param("CloudWatchOutputConfig") if kept else None
    try:
        return _original_send_command_response(self)
    finally:
        _SENDING.cloudwatch = None


def _command_response_object(self: Command) -> dict[str, Any]:
    response = _original_command_response_object(self)
    config = self.__dict__.get("bakery_cloudwatch")
    if config:
        response["CloudWatchOutputConfig"] = config
    return response


SimpleSystemManagerResponse.send_command = _send_command_response  # type: ignore[method-assign]
Command.response_object = _command_response_object  # type: ignore[method-assign]

_original_get_invocation = Command.get_invocation


def _get_invocation(self: Command, instance_id: str, plugin_name: str | None) -> dict[str, Any]:
    invocation = dict(_original_get_invocation(self, instance_id, plugin_name))
    if getattr(self, "bakery_outcome", None) is None:
        return invocation
    _advance(self)
    outcome = self.bakery_outcome  # type: ignore[attr-defined]
    elapsed = time.monotonic() - self.bakery_started  # type: ignore[attr-defined]
    stdout, stderr = outcome.get("stdout", ""), outcome.get("stderr", "")
    if elapsed < self.bakery_seconds:  # type: ignore[attr-defined]
        # Output appears while the command runs, as the agent uploads it.
        shown = stdout.splitlines(keepends=True)[: max(0, len(stdout.splitlines()) // 2)]
        if elapsed < 0:
            shown = []  # the node is rebooting: the run after it has not begun
        invocation.update(
            Status="InProgress",
            StatusDetails="InProgress",
            ResponseCode=-1,
            StandardOutputContent="".join(shown),
            StandardErrorContent="",
            ExecutionEndDateTime="",
        )
        return invocation
    status = outcome["status"]
    self.status = status
    # AWS (SSM API Reference, GetCommandInvocation): StandardOutputContent holds "the
    # first 24,000 characters written by the plugin to stdout", StandardErrorContent
    # the first 8,000 of stderr; the rest only in S3 or CloudWatch Logs.
    if SETTINGS.get(self.bakery_region, "ssm_output_limits"):  # type: ignore[attr-defined]
        stdout, stderr = stdout[:24000], stderr[:8000]
    invocation.update(
        Status=status,
        StatusDetails={"TimedOut": "ExecutionTimedOut"}.get(status, status),
        ResponseCode=int(outcome.get("exit_code", 0 if status == "Success" else 1)),
        StandardOutputContent=stdout,
        StandardErrorContent=stderr,
    )
    return invocation


Command.get_invocation = _get_invocation  # type: ignore[method-assign]


# ---------------------------------------------------------------- the default VPC and the way to SSM

from moto.ec2.models.vpcs import VPC, VPCBackend  # noqa: E402

_original_create_default_vpc = VPCBackend.create_default_vpc


def _create_default_vpc(self: VPCBackend) -> VPC:
    # AWS: a default VPC comes with an internet gateway and, in its main route table,
    # a default route to it (moto makes neither).
    vpc = _original_create_default_vpc(self)
    if not SETTINGS.get(self.region_name, "default_vpc_gateway"):  # type: ignore[attr-defined]
        return vpc
    igw = self.create_internet_gateway()  # type: ignore[attr-defined]
    self.attach_internet_gateway(igw.id, vpc.id)  # type: ignore[attr-defined]
    for table in self.describe_route_tables(  # type: ignore[attr-defined]
        filters={"vpc-id": [vpc.id], "association.main": ["true"]}
    ):
        self.create_route(table.id, "0.0.0.0/0", gateway_id=igw.id)  # type: ignore[attr-defined]
    return vpc


VPCBackend.create_default_vpc = _create_default_vpc  # type: ignore[method-assign]

SSM_SERVICES = ("ssm", "ssmmessages", "ec2messages")


def _reaches_ssm(instance: Instance, region: str) -> bool:
    """AWS: an instance's agent reaches SSM through interface endpoints in its VPC,
    through a default route that is not the internet gateway's (a NAT), or through the
    internet gateway when the instance has a public address."""
    backend = instance.ec2_backend
    vpc_id, subnet_id = instance.vpc_id, instance.subnet_id
    if not vpc_id or not subnet_id:
        return True
    services = {e.service_name for e in backend.describe_vpc_endpoints(None, filters={"vpc-id": [vpc_id]})}
    if all(f"com.amazonaws.{region}.{name}" in services for name in SSM_SERVICES):
        return True
    tables = backend.describe_route_tables(filters={"association.subnet-id": [subnet_id]}) or \
        backend.describe_route_tables(filters={"vpc-id": [vpc_id], "association.main": ["true"]})
    for table in tables:
        for route in table.routes:
            if route.destination_cidr_block != "0.0.0.0/0":
                continue
            gateway = route.gateway.id if route.gateway else ""
            if gateway.startswith("igw-"):
                return instance.public_ip is not None
            return True
    return False


# ---------------------------------------------------------------- regions the account may use

from moto.ec2.models.availability_zones_and_regions import (  # noqa: E402
    Region,
    RegionsAndZonesBackend,
)

_original_describe_regions = RegionsAndZonesBackend.describe_regions


def _describe_regions(self: RegionsAndZonesBackend, region_names: list[str] | None = None) -> list[Region]:
    # moto marks the opt-in regions "not-opted-in" but serves them anyway; the emulated
    # account has opted in to them unless a test says otherwise ("opted_in": false).
    regions = []
    for region in _original_describe_regions(self, region_names):
        status = region.opt_in_status
        if status != "opt-in-not-required" and SETTINGS.get(region.name, "opt_in_regions"):
            status = "opted-in" if SETTINGS.get(region.name, "opted_in") else "not-opted-in"
        regions.append(Region(region.name, region.endpoint, status))
    return regions


RegionsAndZonesBackend.describe_regions = _describe_regions  # type: ignore[method-assign]


# ---------------------------------------------------------------- EBS: encrypted snapshots

from moto.ec2.models.elastic_block_store import EBSBackend  # noqa: E402

_original_create_snapshot = EBSBackend.create_snapshot


def _key_arn(account_id: str, region: str, key: str | None) -> str | None:
    """AWS stores the key a volume or snapshot is encrypted with as the key's ARN,
    whatever form the call named it in (id, alias name, alias ARN): DescribeSnapshots
    answers with the ARN. A key that does not resolve stays as given."""
    if not key:
        return key
    from moto.kms.models import kms_backends

    backend = kms_backends[account_id][region]
    try:
        return backend.describe_key(key).arn
    except Exception:
        return key


def _create_snapshot(self: EBSBackend, volume_id: str, *args: Any, **kwargs: Any) -> Any:
    # AWS: a snapshot of an encrypted volume is encrypted with the volume's key
    # (moto keeps the flag but drops the key).
    snapshot = _original_create_snapshot(self, volume_id, *args, **kwargs)
    volume = self.get_volume(volume_id)
    snapshot.encrypted = volume.encrypted
    snapshot.kms_key_id = _key_arn(self.account_id, self.region_name, volume.kms_key_id)
    return snapshot


EBSBackend.create_snapshot = _create_snapshot  # type: ignore[method-assign]


# ---------------------------------------------------------------- WSGI: control API and faults

CONTROL_PREFIX = "/bakery-emulator/"
# ---------------------------------------------------------------- request meter
# AWS (EC2 Developer Guide, "Request throttling for the Amazon EC2 API"): each API action
# has a token bucket per account and region; a request takes a token, a bucket refills
# at a fixed rate up to its size, and a request that finds it empty is refused with
# RequestLimitExceeded. The defaults, (size, refill per second): non-mutating actions
# (Describe*, Get*, List*) 100 / 20; mutating ones 50 / 5; and the page's own buckets for
# the actions below. `request_meter` switches the meter on for a region.

_OWN_BUCKETS = {
    "RunInstances": (5, 2.0),
    "StartInstances": (5, 2.0),
    "TerminateInstances": (100, 5.0),
    "CopyImage": (100, 1.0),
    "DeregisterImage": (100, 5.0),
    "ModifyImageAttribute": (100, 5.0),
    "CreateTags": (100, 10.0),
    "DeleteTags": (100, 10.0),
    "CreateSnapshot": (100, 5.0),
    "DeleteSnapshot": (100, 5.0),
}


def _bucket_of(action: str) -> tuple[int, float]:
    if action in _OWN_BUCKETS:
        return _OWN_BUCKETS[action]
    if action.startswith(("Describe", "Get", "List", "Search")):
        return (100, 20.0)
    return (50, 5.0)


class RequestMeter:
    """Token buckets by region and key: an action's, or a quota several actions share."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, region: str, action: str) -> bool:
        return self.take_from(region, action, _bucket_of(action))

    def take_from(self, region: str, key: str, bucket: tuple[int, float]) -> bool:
        size, rate = bucket
        now = time.monotonic()
        with self.lock:
            tokens, then = self.buckets.get((region, key), (float(size), now))
            tokens = min(float(size), tokens + (now - then) * rate)
            allowed = tokens >= 1.0
            self.buckets[(region, key)] = (tokens - 1.0 if allowed else tokens, now)
            return allowed

    def clear(self) -> None:
        with self.lock:
            self.buckets.clear()


METER = RequestMeter()

# AWS (Systems Manager User Guide, "Changing Parameter Store throughput"; Service
# Quotas, Parameter Store "Max throughput (transactions per second)"; the throughput
# note of the API Reference's GetParameter and PutParameter): by default GetParameter,
# GetParameters, GetParametersByPath and PutParameter share 40 transactions a second per
# account and region; past them, ThrottlingException "Rate exceeded".
# `parameter_store_meter` switches it on for a region (on by default).
PARAMETER_STORE_ACTIONS = {"GetParameter", "GetParameters", "GetParametersByPath", "PutParameter"}
PARAMETER_STORE_THROUGHPUT = (40, 40.0)

SCOPE_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/")


def _json_response(start_response: Any, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body, indent=2, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _action_of(environ: dict[str, Any], body: bytes) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    match = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body)
    return match.group(1).decode() if match else None


def _fault_response(start_response: Any, environ: dict[str, Any], fault: dict[str, Any]) -> list[bytes]:
    status = int(fault.get("status", 503))
    code = fault.get("code", "RequestLimitExceeded")
    message = fault.get("message", "Request limit exceeded.")
    reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}
    if environ.get("HTTP_X_AMZ_TARGET"):
        data = json.dumps({"__type": code, "message": message}).encode()
        content_type = "application/x-amz-json-1.1"
    else:
        data = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
        ).encode()
        content_type = "text/xml"
    start_response(
        f"{status} {reason.get(status, 'Error')}",
        [("Content-Type", content_type), ("Content-Length", str(len(data)))],
    )
    return [data]


# ---------------------------------------------------------------- instance metadata (IMDSv2)

IMDS_PREFIX = "/bakery-imds/"
IMDS_TOKENS: set[str] = set()


def _find_instance(instance_id: str) -> tuple[str, Instance] | None:
    from moto.core import DEFAULT_ACCOUNT_ID

    for region, backend in ec2_backends[DEFAULT_ACCOUNT_ID].items():
        for instance in backend.all_instances():
            if instance.id == instance_id:
                return region, instance
    return None


def _text_response(start_response: Any, status: str, text: str) -> list[bytes]:
    data = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def instance_metadata(path: str, environ: dict[str, Any], start_response: Any) -> Any:
    """The metadata service of one emulated instance, IMDSv2 only:
    /bakery-imds/<instance-id>/latest/api/token (PUT), then .../latest/meta-data/...
    with the token: instance-id, placement/region, tags/instance[/<key>] (with
    instance metadata tags enabled)."""
    instance_id, _, rest = path.partition("/")
    method = environ.get("REQUEST_METHOD")
    if rest == "latest/api/token":
        if method != "PUT" or not environ.get("HTTP_X_AWS_EC2_METADATA_TOKEN_TTL_SECONDS"):
            return _text_response(start_response, "400 Bad Request", "PUT with a TTL header")
        token = uuid.uuid4().hex
        IMDS_TOKENS.add(token)
        return _text_response(start_response, "200 OK", token)
    if environ.get("HTTP_X_AWS_EC2_METADATA_TOKEN") not in IMDS_TOKENS:
        return _text_response(start_response, "401 Unauthorized", "")
    found = _find_instance(instance_id)
    if not found or not rest.startswith("latest/meta-data/"):
        return _text_response(start_response, "404 Not Found", "")
    region, instance = found
    item = rest[len("latest/meta-data/"):]
    tags = {t["key"]: t["value"] for t in instance.get_tags()}
    values = {
        "instance-id": instance.id,
        "placement/region": region,
        "ami-id": instance.image_id,
        "tags/instance": "\n".join(sorted(tags)),
    }
    # As on EC2, an instance's tags are in its metadata only when it was launched (or
    # modified) with InstanceMetadataTags enabled.
    tags_on = getattr(getattr(instance, "metadata_options", None), "instance_metadata_tags", "disabled") == "enabled"
    if item.startswith("tags/instance") and not tags_on:
        return _text_response(start_response, "404 Not Found", "")
    if item.startswith("tags/instance/"):
        key = item[len("tags/instance/"):]
        if key in tags:
            return _text_response(start_response, "200 OK", tags[key])
        return _text_response(start_response, "404 Not Found", "")
    if item in values:
        return _text_response(start_response, "200 OK", values[item])
    return _text_response(start_response, "404 Not Found", "")


def _metadata_served(path: str) -> bool:
    found = _find_instance(path.partition("/")[0])
    return bool(SETTINGS.get(found[0] if found else "*", "instance_metadata"))


def _discard(response: Any) -> None:
    for _ in response:
        pass
    if hasattr(response, "close"):
        response.close()


class BakeryEmulator:
    """WSGI middleware in front of moto: the control API, then fault injection."""

    def __init__(self, moto_app: Any) -> None:
        self.moto_app = moto_app
        # Calls per action and region since start or reset, for benchmarks (what AWS
        # bills and throttles by): GET /bakery-emulator/calls.
        self.calls: dict[str, int] = defaultdict(int)
        self.calls_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/moto-api/reset":
            # moto forgets every resource: the tokens that named them go too.
            CLIENT_TOKENS.clear()
        if path.startswith(CONTROL_PREFIX):
            return self.control(path[len(CONTROL_PREFIX):], environ, start_response)
        if path.startswith(IMDS_PREFIX) and _metadata_served(path[len(IMDS_PREFIX):]):
            return instance_metadata(path[len(IMDS_PREFIX):], environ, start_response)
        body = _read_body(environ)
        action = _action_of(environ, body)
        scope = SCOPE_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION", ""))
        region, service = scope.groups() if scope else ("*", "*")
        if action:
            with self.calls_lock:
                self.calls[f"{region} {action}"] += 1
        if (action and region != "*" and not SETTINGS.get(region, "opted_in")
                and SETTINGS.get(region, "opt_in_regions")):
            # AWS: a region the account has not opted in to refuses every call.
            return _fault_response(start_response, environ, {
                "status": 401, "code": "OptInRequired",
                "message": "You are not subscribed to this service. Please go to "
                           "http://aws.amazon.com to subscribe."})
        metered = action and service == "ec2" and SETTINGS.get(region, "request_meter")
        if metered and not METER.take(region, action):
            return _fault_response(start_response, environ, {
                "status": 503, "code": "RequestLimitExceeded",
                "message": "Request limit exceeded."})
        throughput = (action in PARAMETER_STORE_ACTIONS and service == "ssm"
                      and SETTINGS.get(region, "parameter_store_meter"))
        if throughput and not METER.take_from(region, "ParameterStore", PARAMETER_STORE_THROUGHPUT):
            return _fault_response(start_response, environ, {
                "status": 400, "code": "ThrottlingException", "message": "Rate exceeded"})
        if action and SETTINGS.faults:
            fault = SETTINGS.take_fault(action, service, region)
            if fault and fault.get("delay_seconds"):
                # A slow or silent service: the answer (or the fault) comes this late.
                time.sleep(float(fault["delay_seconds"]))
                if not fault.get("status"):
                    return self.moto_app(environ, start_response)
            if fault and fault.get("after"):
                # The call takes effect, then its answer is lost: what a timeout or a
                # dropped connection looks like to the caller.
                _discard(self.moto_app(environ, lambda *_: (lambda _data: None)))
                return _fault_response(start_response, environ, fault)
            if fault:
                return _fault_response(start_response, environ, fault)
        return self.moto_app(environ, start_response)

    def control(self, what: str, environ: dict[str, Any], start_response: Any) -> Any:
        method = environ.get("REQUEST_METHOD")
        try:
            if what == "config" and method == "POST":
                body = json.loads(_read_body(environ) or b"{}")
                return _json_response(start_response, "200 OK", SETTINGS.update(body))
            if what == "config" and method == "GET":
                return _json_response(start_response, "200 OK", SETTINGS.snapshot("*"))
            if what == "deprecation-passed" and method == "POST":
                body = json.loads(_read_body(environ) or b"{}")
                return _json_response(start_response, "200 OK", _deprecation_passed(body))
            if what == "reboots" and method == "GET":
                return _json_response(start_response, "200 OK", reboots())
            if what == "calls" and method == "GET":
                with self.calls_lock:
                    return _json_response(start_response, "200 OK", dict(self.calls))
            if what == "reset" and method == "POST":
                SETTINGS.reset()
                METER.clear()
                with REBOOTS_LOCK:
                    REBOOTS.clear()
                    ASKING_REBOOT.clear()
                with self.calls_lock:
                    self.calls.clear()
                return _json_response(start_response, "200 OK", {"reset": True})
        except (ValueError, KeyError, TypeError) as error:
            return _json_response(start_response, "400 Bad Request", {"error": str(error)})
        return _json_response(
            start_response,
            "404 Not Found",
            {"error": f"no {method} {CONTROL_PREFIX}{what}; see tests/emulator/README.md"},
        )


def main(argv: list[str] | None = None) -> None:
    import argparse

    from werkzeug.serving import run_simple

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    parser = argparse.ArgumentParser(description="moto server with bakery's extensions")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)

    import os

    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = BakeryEmulator(DomainDispatcherApplication(create_backend_app))
    run_simple(
        args.host,
        args.port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
