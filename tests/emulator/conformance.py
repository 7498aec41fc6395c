"""Conformance tests of the emulator alone (no bakery): each reads as the AWS
documentation it follows, and names the row of tests/emulator/README.md's faithfulness
table it checks.

Run by scripts/test against the suite's emulator (AWS_ENDPOINT_URL), before bakery's own
tests, with the emulator's Python, twice:

    .local-aws/venv/bin/python tests/emulator/conformance.py
    .local-aws/venv/bin/python tests/emulator/conformance.py --switched-off

The second run switches each class's behaviour off (the emulator then does what moto
alone does) and fails unless every test fails: a test that passes either way tests
nothing.

Each test class takes regions of its own and sets their settings, so it does not see
bakery's tests or another class's resources.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import functools
import json
import os
import sys
import time
import unittest
import urllib.error
import urllib.request
import uuid
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
# No retries: a refused request must be seen as AWS answered it.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
# --switched-off: each class's behaviour off.
SWITCHED_OFF = False
# Tokens and names of this run, so that runs against one emulator do not meet.
RUN = uuid.uuid4().hex[:8]


def unique(name: str) -> str:
    return f"{name}-{RUN}"


def client(service: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=NO_RETRIES,
    )


def emulate(settings: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{ENDPOINT}/bakery-emulator/config",
        data=json.dumps(settings).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).read()


class Conformance(unittest.TestCase):
    """A behaviour of the faithfulness table (`behaviour`, the emulator's setting that
    switches it), in regions of its own."""

    behaviour = ""
    regions: tuple[str, ...] = ()

    def setUp(self) -> None:
        for region in self.regions:
            self.configure(region, {self.behaviour: not SWITCHED_OFF})

    def configure(self, region: str, settings: dict[str, Any]) -> None:
        """The class's settings in `region`, without faults and, unless the class tests
        them, without EC2's request meter (these tests send bursts and never retry) and
        with every create visible at once (they describe what they just made)."""
        emulate({"region": region, "clear_faults": True, "request_meter": False,
                 "eventual_consistency_seconds": 0, **settings})


@functools.cache
def an_image(region: str) -> str:
    """An x86_64 image of moto's catalogue."""
    images = client("ec2", region).describe_images(
        Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}]
    )["Images"]
    return sorted(i["ImageId"] for i in images)[0]


def error_code(call: Any, **kwargs: Any) -> str:
    try:
        call(**kwargs)
    except ClientError as error:
        return error.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded")


def instances_with_token(ec2: Any, token: str) -> list[dict[str, Any]]:
    reservations = ec2.describe_instances()["Reservations"]
    return [
        i for r in reservations for i in r["Instances"] if i.get("ClientToken") == token
    ]


class RunInstancesClientToken(Conformance):
    """EC2 Developer Guide, "Ensuring idempotency in Amazon EC2 API requests"."""

    behaviour = "client_tokens"
    regions = ("sa-east-1", "ap-south-1")

    def setUp(self) -> None:
        super().setUp()
        self.ec2 = client("ec2", "sa-east-1")
        self.image = an_image("sa-east-1")

    def run_instance(self, token: str, instance_type: str = "t3.micro", region: str = "sa-east-1") -> Any:
        return client("ec2", region).run_instances(
            ImageId=an_image(region), InstanceType=instance_type, MinCount=1, MaxCount=1,
            ClientToken=token,
        )

    def test_a_repeated_request_with_the_same_token_and_parameters_returns_the_first_instance(self) -> None:
        first = self.run_instance(unique("conformance-same"))
        again = self.run_instance(unique("conformance-same"))

        self.assertEqual(first["ReservationId"], again["ReservationId"])
        self.assertEqual(
            [i["InstanceId"] for i in first["Instances"]],
            [i["InstanceId"] for i in again["Instances"]],
        )
        self.assertEqual(len(instances_with_token(self.ec2, unique("conformance-same"))), 1)

    def test_the_same_token_with_other_parameters_is_refused_with_idempotent_parameter_mismatch(self) -> None:
        self.run_instance(unique("conformance-other"), "t3.micro")

        code = error_code(
            self.ec2.run_instances, ImageId=self.image, InstanceType="t3.small",
            MinCount=1, MaxCount=1, ClientToken=unique("conformance-other"),
        )

        self.assertEqual(code, "IdempotentParameterMismatch")
        launched = instances_with_token(self.ec2, unique("conformance-other"))
        self.assertEqual([i["InstanceType"] for i in launched], ["t3.micro"], "nothing more launched")

    def test_the_token_still_names_its_instance_once_it_is_terminated(self) -> None:
        first = self.run_instance(unique("conformance-terminated"))["Instances"][0]["InstanceId"]
        self.ec2.terminate_instances(InstanceIds=[first])

        again = self.run_instance(unique("conformance-terminated"))["Instances"][0]["InstanceId"]

        self.assertEqual(again, first)

    def test_the_same_token_in_another_region_is_another_request(self) -> None:
        here = self.run_instance(unique("conformance-regions"))["Instances"][0]["InstanceId"]
        elsewhere = self.run_instance(unique("conformance-regions"), region="ap-south-1")
        again = self.run_instance(unique("conformance-regions"), region="ap-south-1")

        self.assertNotEqual(here, elsewhere["Instances"][0]["InstanceId"])
        self.assertEqual(elsewhere["ReservationId"], again["ReservationId"])


class CopyImageClientToken(Conformance):
    """EC2 Developer Guide, "Ensuring idempotency in Amazon EC2 API requests" (CopyImage
    is among the actions that take a client token)."""

    behaviour = "client_tokens"
    source_region = "sa-east-1"
    region = "ap-south-1"
    regions = (source_region, region)

    def setUp(self) -> None:
        super().setUp()
        self.ec2 = client("ec2", self.region)
        self.source = an_image(self.source_region)

    def copy(self, token: str, name: str) -> str:
        return self.ec2.copy_image(
            SourceImageId=self.source, SourceRegion=self.source_region, Name=name,
            ClientToken=token,
        )["ImageId"]

    def test_a_repeated_copy_with_the_same_token_and_parameters_returns_the_first_image(self) -> None:
        first = self.copy(unique("conformance-copy-same"), unique("conformance/same"))
        again = self.copy(unique("conformance-copy-same"), unique("conformance/same"))

        self.assertEqual(first, again)
        named = self.ec2.describe_images(
            Filters=[{"Name": "name", "Values": [unique("conformance/same")]}]
        )["Images"]
        self.assertEqual([i["ImageId"] for i in named], [first], "one copy made")

    def test_the_same_token_with_other_parameters_is_refused_with_idempotent_parameter_mismatch(self) -> None:
        self.copy(unique("conformance-copy-other"), unique("conformance/first"))

        code = error_code(
            self.ec2.copy_image, SourceImageId=self.source, SourceRegion=self.source_region,
            Name=unique("conformance/second"), ClientToken=unique("conformance-copy-other"),
        )

        self.assertEqual(code, "IdempotentParameterMismatch")
        named = self.ec2.describe_images(
            Filters=[{"Name": "name", "Values": [unique("conformance/second")]}]
        )["Images"]
        self.assertEqual(named, [], "no second copy")

    def test_the_token_still_names_its_copy_once_the_copy_is_deregistered(self) -> None:
        first = self.copy(unique("conformance-copy-gone"), unique("conformance/gone"))
        self.ec2.deregister_image(ImageId=first)

        self.assertEqual(self.copy(unique("conformance-copy-gone"), unique("conformance/gone")), first)


class CopyImageTagSpecifications(Conformance):
    """EC2 API Reference, CopyImage, `TagSpecifications`: the tags go on the new image
    (`image`) and its snapshots (`snapshot`) as they are created."""

    behaviour = "copy_image_tags"
    regions = ("sa-east-1", "ap-south-1")

    def test_a_copy_is_created_with_its_tags_and_its_snapshots_with_theirs(self) -> None:
        ec2 = client("ec2", "ap-south-1")

        copy = ec2.copy_image(
            SourceImageId=an_image("sa-east-1"), SourceRegion="sa-east-1",
            Name=unique("conformance/tagged"),
            TagSpecifications=[
                {"ResourceType": "image", "Tags": [{"Key": "bakery:role", "Value": "base"}]},
                {"ResourceType": "snapshot", "Tags": [{"Key": "bakery:version", "Value": "1.0.0"}]},
            ],
        )["ImageId"]

        image = ec2.describe_images(ImageIds=[copy])["Images"][0]
        self.assertEqual(image.get("Tags"), [{"Key": "bakery:role", "Value": "base"}])
        snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        tags = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0].get("Tags")
        self.assertEqual(tags, [{"Key": "bakery:version", "Value": "1.0.0"}])


class EbsVolumeParameters(Conformance):
    """EC2 API Reference, EbsBlockDevice: `Iops` "is required for io1 and io2 volumes"
    and not supported for gp2; `Throughput` "is valid only for gp3 volumes"."""

    behaviour = "volume_parameters_checked"
    regions = ("sa-east-1",)

    def launch(self, token: str, **ebs: Any) -> str:
        try:
            client("ec2", "sa-east-1").run_instances(
                ImageId=an_image("sa-east-1"), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                ClientToken=unique(token),
                BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, **ebs}}],
            )
        except ClientError as error:
            return error.response["Error"]["Code"]
        return "launched"

    def test_an_io1_volume_without_iops_is_refused(self) -> None:
        self.assertEqual(self.launch("io1-bare", VolumeType="io1"), "InvalidParameterCombination")
        self.assertEqual(self.launch("io1-iops", VolumeType="io1", Iops=1000), "launched")

    def test_iops_on_gp2_and_throughput_on_io2_are_refused(self) -> None:
        self.assertEqual(
            self.launch("gp2-iops", VolumeType="gp2", Iops=3000), "InvalidParameterCombination"
        )
        self.assertEqual(
            self.launch("io2-throughput", VolumeType="io2", Iops=1000, Throughput=500),
            "InvalidParameterCombination",
        )


class DescribeImagesIncludeDisabled(Conformance):
    """EC2 API Reference, DescribeImages, `IncludeDisabled`: "Default: No disabled AMIs
    are included in the response"."""

    behaviour = "disabled_images_hidden"
    regions = ("sa-east-1",)

    def test_a_disabled_image_is_listed_only_when_asked_for(self) -> None:
        ec2 = client("ec2", "sa-east-1")
        instance = ec2.run_instances(
            ImageId=an_image("sa-east-1"), InstanceType="t3.micro", MinCount=1, MaxCount=1
        )["Instances"][0]["InstanceId"]
        name = unique("conformance/disabled")
        image = ec2.create_image(InstanceId=instance, Name=name)["ImageId"]
        ec2.disable_image(ImageId=image)
        by_name = [{"Name": "name", "Values": [name]}]

        self.assertEqual(ec2.describe_images(Owners=["self"], Filters=by_name)["Images"], [])
        listed = ec2.describe_images(Owners=["self"], Filters=by_name, IncludeDisabled=True)
        self.assertEqual([(i["ImageId"], i["State"]) for i in listed["Images"]], [(image, "disabled")])


class ParameterTiers(Conformance):
    """Systems Manager User Guide, "Managing parameter tiers": a standard parameter's
    value is at most 4 KB, an advanced one's 8 KB; Intelligent-Tiering chooses."""

    behaviour = "parameter_value_limits"
    regions = ("sa-east-1",)

    def put(self, name: str, size: int, **tier: Any) -> str:
        try:
            client("ssm", "sa-east-1").put_parameter(
                Name=unique(f"/conformance/{name}"), Value="x" * size, Type="String", **tier
            )
        except ClientError as error:
            return error.response["Error"]["Code"]
        return "stored"

    def test_a_standard_value_over_4_kb_is_refused(self) -> None:
        self.assertEqual(self.put("standard-4k", 4096), "stored")
        self.assertEqual(self.put("standard-5k", 5000), "ValidationException")

    def test_intelligent_tiering_stores_up_to_8_kb_and_no_more(self) -> None:
        self.assertEqual(self.put("smart-5k", 5000, Tier="Intelligent-Tiering"), "stored")
        self.assertEqual(self.put("smart-9k", 9000, Tier="Intelligent-Tiering"), "ValidationException")


class EventualConsistency(Conformance):
    """EC2 Developer Guide, "Eventual consistency in the Amazon EC2 API": right after a
    create, a Describe naming the new resource may answer that it does not exist."""

    behaviour = "eventual_consistency_seconds"
    regions = ("ca-west-1",)

    def setUp(self) -> None:
        for region in self.regions:
            self.configure(region, {"eventual_consistency_seconds": 0 if SWITCHED_OFF else 2})

    def tearDown(self) -> None:
        emulate({"region": "ca-west-1", "eventual_consistency_seconds": 0})

    def test_a_new_instance_group_and_image_are_not_found_at_first_then_are(self) -> None:
        ec2 = client("ec2", "ca-west-1")
        group = ec2.create_security_group(GroupName=unique("conformance-ec"), Description="x")["GroupId"]
        instance = ec2.run_instances(
            ImageId=an_image("ca-west-1"), InstanceType="t3.micro", MinCount=1, MaxCount=1
        )["Instances"][0]["InstanceId"]

        self.assertEqual(error_code(ec2.describe_security_groups, GroupIds=[group]), "InvalidGroup.NotFound")
        self.assertEqual(error_code(ec2.describe_instances, InstanceIds=[instance]), "InvalidInstanceID.NotFound")
        listed = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        self.assertNotIn(instance, listed)
        time.sleep(2.2)
        ec2.describe_security_groups(GroupIds=[group])
        ec2.describe_instances(InstanceIds=[instance])
        image = ec2.create_image(InstanceId=instance, Name=unique("conformance/ec"))["ImageId"]
        self.assertEqual(error_code(ec2.describe_images, ImageIds=[image]), "InvalidAMIID.NotFound")


class TagsRequiredOnCreate(Conformance):
    """An account policy requiring `aws:RequestTag/team` on creates (IAM User Guide,
    "Controlling access during AWS requests"): a create without the tag is refused with
    UnauthorizedOperation, one with it goes through."""

    behaviour = "required_tags"
    regions = ("ca-west-1",)

    def setUp(self) -> None:
        for region in self.regions:
            self.configure(region, {"required_tags": [] if SWITCHED_OFF else ["team"]})

    def tearDown(self) -> None:
        emulate({"region": "ca-west-1", "required_tags": []})

    def test_a_create_without_the_required_tag_is_refused(self) -> None:
        ec2 = client("ec2", "ca-west-1")
        team = [{"Key": "team", "Value": "platform"}]
        self.assertEqual(
            error_code(ec2.create_security_group, GroupName=unique("untagged"), Description="x"),
            "UnauthorizedOperation",
        )
        ec2.create_security_group(
            GroupName=unique("tagged"), Description="x",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": team}],
        )
        run = dict(ImageId=an_image("ca-west-1"), InstanceType="t3.micro", MinCount=1, MaxCount=1)
        self.assertEqual(error_code(ec2.run_instances, **run), "UnauthorizedOperation")
        ec2.run_instances(**run, TagSpecifications=[{"ResourceType": "instance", "Tags": team}])


class InstanceStateTransitions(Conformance):
    """EC2 User Guide, "Amazon EC2 instance state changes": a launched instance is
    `pending`, then `running`; one terminated goes to `shutting-down` and `terminated`,
    whatever state it was in, and never comes back."""

    behaviour = "instance_pending_seconds"
    regions = ("ca-west-1",)

    def setUp(self) -> None:
        for region in self.regions:
            self.configure(region, {"instance_pending_seconds": 0 if SWITCHED_OFF else 1,
                                    "instance_shutting_down_seconds": 0})

    def tearDown(self) -> None:
        emulate({"region": "ca-west-1", "instance_pending_seconds": 0})

    def state(self, ec2: Any, instance: str) -> str:
        reservations = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]

    def test_an_instance_terminated_while_pending_stays_terminated(self) -> None:
        ec2 = client("ec2", "ca-west-1")
        instance = ec2.run_instances(
            ImageId=an_image("ca-west-1"), InstanceType="t3.micro", MinCount=1, MaxCount=1
        )["Instances"][0]["InstanceId"]
        self.assertEqual(self.state(ec2, instance), "pending")

        ec2.terminate_instances(InstanceIds=[instance])
        time.sleep(1.3)

        self.assertEqual(self.state(ec2, instance), "terminated")


class RequestThrottling(Conformance):
    """EC2 Developer Guide, "Request throttling for the Amazon EC2 API": RunInstances has
    a bucket of 5 tokens refilled at 2 a second; a request that finds it empty is
    refused with RequestLimitExceeded."""

    behaviour = "request_meter"
    regions = ("mx-central-1",)

    def tearDown(self) -> None:
        emulate({"region": "mx-central-1", "request_meter": False})

    def test_a_burst_past_the_bucket_is_refused_and_the_bucket_refills(self) -> None:
        ec2 = client("ec2", "mx-central-1")
        run = dict(ImageId="ami-1e749f67", InstanceType="t3.micro", MinCount=1, MaxCount=1)
        def launch(_: int) -> str:
            try:
                ec2.run_instances(**run)
                return "launched"
            except ClientError as error:
                return str(error.response["Error"]["Code"])

        # Twelve at once: the bucket's five, and what it refills meanwhile, go through.
        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(launch, range(12)))

        self.assertGreaterEqual(answers.count("launched"), 5, answers)
        self.assertLessEqual(answers.count("launched"), 8, answers)
        self.assertEqual(
            answers.count("launched") + answers.count("RequestLimitExceeded"), 12, answers
        )
        time.sleep(1.1)
        ec2.run_instances(**run)


class ParameterStoreThroughput(Conformance):
    """Systems Manager User Guide, "Changing Parameter Store throughput", and the
    service's quotas: by default GetParameter, GetParameters, GetParametersByPath and
    PutParameter share 40 transactions a second per account and Region; past them a
    request is refused with ThrottlingException."""

    behaviour = "parameter_store_meter"
    regions = ("ca-central-1",)

    def test_a_burst_past_forty_a_second_is_throttled_and_the_throughput_returns(self) -> None:
        ssm = client("ssm", "ca-central-1")
        name = f"/conformance/{unique('throughput')}"
        ssm.put_parameter(Name=name, Value="v", Type="String")
        time.sleep(1.1)

        def read(_: int) -> str:
            try:
                ssm.get_parameter(Name=name)
                return "read"
            except ClientError as error:
                return str(error.response["Error"]["Code"])

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(read, range(120)))

        self.assertGreaterEqual(answers.count("read"), 40, answers)
        self.assertIn("ThrottlingException", answers)
        self.assertEqual(answers.count("read") + answers.count("ThrottlingException"), 120)
        time.sleep(1.1)
        ssm.get_parameter(Name=name)


class CommandOutputLimits(Conformance):
    """SSM API Reference, GetCommandInvocation: StandardOutputContent is "the first
    24,000 characters written by the plugin to stdout" (StandardErrorContent: 8,000)."""

    behaviour = "ssm_output_limits"
    regions = ("ca-west-1",)
    long_output = "".join(f"line {n:05d}\n" for n in range(4000))  # 44,000 characters

    def setUp(self) -> None:
        self.configure("ca-west-1", {
            "ssm_output_limits": not SWITCHED_OFF,
            "command_outcomes": [{"match": "print a lot", "status": "Success", "exit_code": 0,
                                  "stdout": self.long_output, "stderr": "e" * 9000}],
        })

    def test_an_invocation_keeps_the_first_characters_of_each_stream(self) -> None:
        ec2, ssm = client("ec2", "ca-west-1"), client("ssm", "ca-west-1")
        instance = ec2.run_instances(
            ImageId=an_image("ca-west-1"), InstanceType="t3.micro", MinCount=1, MaxCount=1,
            IamInstanceProfile={"Name": "bakery-builder"},
            NetworkInterfaces=[{"DeviceIndex": 0, "AssociatePublicIpAddress": True}],
        )["Instances"][0]["InstanceId"]
        command = ssm.send_command(
            InstanceIds=[instance], DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["print a lot"]},
        )["Command"]["CommandId"]

        invocation = ssm.get_command_invocation(CommandId=command, InstanceId=instance)

        self.assertEqual(invocation["StandardOutputContent"], self.long_output[:24000])
        self.assertEqual(len(invocation["StandardErrorContent"]), 8000)


class ImageParameters(Conformance):
    """Systems Manager User Guide, "Native parameter support for Amazon Machine Image
    IDs": a parameter of data type aws:ec2:image is validated after PutParameter
    returns, and one naming no AMI of the account's region is not created."""

    behaviour = "image_parameters_checked"
    regions = ("ca-west-1",)

    def test_a_parameter_naming_no_image_is_not_created_and_one_naming_an_image_is(self) -> None:
        ssm = client("ssm", "ca-west-1")
        missing = unique("/conformance/image/missing")
        ssm.put_parameter(Name=missing, Value="ami-0123456789abcdef0", Type="String",
                          DataType="aws:ec2:image")
        self.assertEqual(error_code(ssm.get_parameter, Name=missing), "ParameterNotFound")

        present = unique("/conformance/image/present")
        image = an_image("ca-west-1")
        ssm.put_parameter(Name=present, Value=image, Type="String", DataType="aws:ec2:image")
        self.assertEqual(ssm.get_parameter(Name=present)["Parameter"]["Value"], image)


class TerminateIdempotent(Conformance):
    """EC2 Developer Guide, "Ensuring idempotency in Amazon EC2 API requests":
    TerminateInstances is idempotent by default."""

    behaviour = "terminate_idempotent"
    regions = ("ca-west-1",)

    def test_terminating_a_terminated_instance_succeeds(self) -> None:
        ec2 = client("ec2", "ca-west-1")
        # With an interface of its own, as a builder has (moto deletes it on the first
        # terminate and fails the second on it).
        instance = ec2.run_instances(
            ImageId=an_image("ca-west-1"), InstanceType="t3.micro", MinCount=1, MaxCount=1,
            NetworkInterfaces=[{"DeviceIndex": 0, "AssociatePublicIpAddress": True,
                                "DeleteOnTermination": True}],
        )["Instances"][0]["InstanceId"]
        ec2.terminate_instances(InstanceIds=[instance])

        again = ec2.terminate_instances(InstanceIds=[instance])["TerminatingInstances"][0]

        self.assertIn(again["CurrentState"]["Name"], ("shutting-down", "terminated"))


class EnableImageDeprecationDates(Conformance):
    """EC2 API Reference, EnableImageDeprecation, `DeprecateAt`: "You can't specify a date
    in the past", at most 10 years ahead; the seconds are rounded to the nearest minute."""

    behaviour = "deprecation_dates_checked"
    regions = ("sa-east-1",)

    def setUp(self) -> None:
        super().setUp()
        self.ec2 = client("ec2", "sa-east-1")
        instance = self.ec2.run_instances(
            ImageId=an_image("sa-east-1"), InstanceType="t3.micro", MinCount=1, MaxCount=1
        )["Instances"][0]["InstanceId"]
        self.image = self.ec2.create_image(InstanceId=instance, Name=unique(f"conformance/{self._testMethodName}"))["ImageId"]

    def deprecation_time(self) -> str | None:
        return self.ec2.describe_images(ImageIds=[self.image])["Images"][0].get("DeprecationTime")

    def test_a_date_in_the_past_is_refused(self) -> None:
        code = error_code(
            self.ec2.enable_image_deprecation, ImageId=self.image,
            DeprecateAt=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
        )

        self.assertEqual(code, "InvalidParameterValue")
        self.assertIsNone(self.deprecation_time())

    def test_a_date_more_than_ten_years_ahead_is_refused(self) -> None:
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3660)

        code = error_code(self.ec2.enable_image_deprecation, ImageId=self.image, DeprecateAt=later)

        self.assertEqual(code, "InvalidParameterValue")
        self.assertIsNone(self.deprecation_time())


def launch(ec2: Any, region: str, **extra: Any) -> str:
    """One t3.micro instance of moto's catalogue; its id."""
    return ec2.run_instances(
        ImageId=an_image(region), InstanceType="t3.micro", MinCount=1, MaxCount=1, **extra
    )["Instances"][0]["InstanceId"]


def managed_instance(ec2: Any, region: str) -> str:
    """An instance SSM manages: an instance profile, and a public address behind the
    default VPC's internet gateway (its agent's way to SSM)."""
    return launch(
        ec2, region, IamInstanceProfile={"Name": "bakery-builder"},
        NetworkInterfaces=[{"DeviceIndex": 0, "AssociatePublicIpAddress": True}],
    )


def snapshot_of(ec2: Any, image: str) -> dict[str, Any]:
    mapping = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]
    return ec2.describe_snapshots(SnapshotIds=[mapping["Ebs"]["SnapshotId"]])["Snapshots"][0]


class DisableImageDeprecation(Conformance):
    """EC2 API Reference, DisableImageDeprecation: cancels the deprecation of an AMI."""

    behaviour = "disable_image_deprecation"
    regions = ("eu-west-3",)

    def test_disabling_the_deprecation_of_an_image_clears_its_deprecation_time(self) -> None:
        ec2 = client("ec2", "eu-west-3")
        image = ec2.create_image(
            InstanceId=launch(ec2, "eu-west-3"), Name=unique("conformance/undeprecated")
        )["ImageId"]
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
        ec2.enable_image_deprecation(ImageId=image, DeprecateAt=later)
        self.assertIn("DeprecationTime", ec2.describe_images(ImageIds=[image])["Images"][0])

        ec2.disable_image_deprecation(ImageId=image)

        self.assertNotIn("DeprecationTime", ec2.describe_images(ImageIds=[image])["Images"][0])


class InstanceStateChanges(Conformance):
    """EC2 User Guide, "Amazon EC2 instance state changes": an instance is `pending`
    before `running`, `stopping` before `stopped`, `shutting-down` before `terminated`.
    The three delays are switched off together (moto changes every state at once)."""

    behaviour = "instance_pending_seconds"
    regions = ("eu-west-2",)
    delays = ("instance_pending_seconds", "instance_stopping_seconds", "instance_shutting_down_seconds")

    def setUp(self) -> None:
        self.configure("eu-west-2", {delay: 0 if SWITCHED_OFF else 1 for delay in self.delays})
        self.ec2 = client("ec2", "eu-west-2")

    def tearDown(self) -> None:
        emulate({"region": "eu-west-2", **{delay: 0 for delay in self.delays}})

    def state(self, instance: str) -> str:
        reservations = self.ec2.describe_instances(InstanceIds=[instance])["Reservations"]
        return reservations[0]["Instances"][0]["State"]["Name"]

    def test_a_launched_instance_is_pending_then_running(self) -> None:
        instance = launch(self.ec2, "eu-west-2")

        self.assertEqual(self.state(instance), "pending")
        time.sleep(1.2)
        self.assertEqual(self.state(instance), "running")

    def test_a_stopped_instance_is_stopping_then_stopped(self) -> None:
        instance = launch(self.ec2, "eu-west-2")
        time.sleep(1.2)

        self.ec2.stop_instances(InstanceIds=[instance])

        self.assertEqual(self.state(instance), "stopping")
        time.sleep(1.2)
        self.assertEqual(self.state(instance), "stopped")

    def test_a_terminated_instance_is_shutting_down_then_terminated(self) -> None:
        instance = launch(self.ec2, "eu-west-2")
        time.sleep(1.2)

        self.ec2.terminate_instances(InstanceIds=[instance])

        self.assertEqual(self.state(instance), "shutting-down")
        time.sleep(1.2)
        self.assertEqual(self.state(instance), "terminated")


class ImageStateChanges(Conformance):
    """EC2 API Reference, DescribeImages ("AMI states"): a new image is `pending`, then
    `available`, or `failed` with a state reason."""

    behaviour = "image_pending_seconds"
    regions = ("eu-north-1",)

    def setUp(self) -> None:
        self.configure("eu-north-1", {"image_pending_seconds": 0 if SWITCHED_OFF else 1})
        self.ec2 = client("ec2", "eu-north-1")

    def tearDown(self) -> None:
        emulate({"region": "eu-north-1", "image_pending_seconds": 0, "image_final_state": "available"})

    def image(self, name: str) -> str:
        instance = launch(self.ec2, "eu-north-1")
        return self.ec2.create_image(InstanceId=instance, Name=unique(name))["ImageId"]

    def described(self, image: str) -> dict[str, Any]:
        return self.ec2.describe_images(ImageIds=[image])["Images"][0]

    def test_a_new_image_is_pending_then_available(self) -> None:
        image = self.image("conformance/pending")

        self.assertEqual(self.described(image)["State"], "pending")
        time.sleep(1.2)
        self.assertEqual(self.described(image)["State"], "available")

    def test_an_image_that_fails_goes_from_pending_to_failed_with_a_state_reason(self) -> None:
        emulate({"region": "eu-north-1", "image_final_state": "failed"})
        image = self.image("conformance/failing")

        self.assertEqual(self.described(image)["State"], "pending")
        time.sleep(1.2)
        failed = self.described(image)
        self.assertEqual(failed["State"], "failed")
        self.assertTrue(failed.get("StateReason", {}).get("Message"), failed)


class CreateImageSnapshotTags(Conformance):
    """EC2 API Reference, CreateImage, `TagSpecifications`: tags for the AMI (`image`)
    and for the snapshots it makes (`snapshot`), applied as they are created."""

    behaviour = "create_image_snapshot_tags"
    regions = ("ap-northeast-1",)

    def test_an_image_is_created_with_its_tags_and_its_snapshot_with_theirs(self) -> None:
        ec2 = client("ec2", "ap-northeast-1")

        image = ec2.create_image(
            InstanceId=launch(ec2, "ap-northeast-1"), Name=unique("conformance/tagged-snapshot"),
            TagSpecifications=[
                {"ResourceType": "image", "Tags": [{"Key": "bakery:role", "Value": "base"}]},
                {"ResourceType": "snapshot", "Tags": [{"Key": "bakery:version", "Value": "1.0.0"}]},
            ],
        )["ImageId"]

        tags = ec2.describe_images(ImageIds=[image])["Images"][0].get("Tags")
        self.assertEqual(tags, [{"Key": "bakery:role", "Value": "base"}])
        self.assertEqual(snapshot_of(ec2, image).get("Tags"), [{"Key": "bakery:version", "Value": "1.0.0"}])


class ImageSnapshotEncryption(Conformance):
    """EC2 User Guide, "Use encryption with EBS-backed AMIs": CreateImage snapshots an
    instance's volumes as they are, encrypted with their key; CopyImage with
    `Encrypted` and `KmsKeyId` encrypts the copy's snapshots with that key.
    DescribeSnapshots names the key by its ARN."""

    behaviour = "image_snapshot_encryption"
    regions = ("ap-northeast-2",)

    def setUp(self) -> None:
        super().setUp()
        self.ec2 = client("ec2", "ap-northeast-2")
        self.key = client("kms", "ap-northeast-2").create_key(Description=unique("conformance"))["KeyMetadata"]

    def test_an_image_of_an_encrypted_volume_has_a_snapshot_encrypted_with_its_key(self) -> None:
        instance = launch(self.ec2, "ap-northeast-2", BlockDeviceMappings=[{
            "DeviceName": "/dev/xvda",
            "Ebs": {"VolumeSize": 8, "Encrypted": True, "KmsKeyId": self.key["KeyId"]},
        }])

        image = self.ec2.create_image(InstanceId=instance, Name=unique("conformance/encrypted"))["ImageId"]

        snapshot = snapshot_of(self.ec2, image)
        self.assertEqual((snapshot["Encrypted"], snapshot.get("KmsKeyId")), (True, self.key["Arn"]))

    def test_a_copy_asked_to_be_encrypted_has_its_snapshot_encrypted_with_that_key(self) -> None:
        copy = self.ec2.copy_image(
            SourceImageId=an_image("ap-northeast-2"), SourceRegion="ap-northeast-2",
            Name=unique("conformance/encrypted-copy"), Encrypted=True, KmsKeyId=self.key["KeyId"],
        )["ImageId"]

        snapshot = snapshot_of(self.ec2, copy)
        self.assertEqual((snapshot["Encrypted"], snapshot.get("KmsKeyId")), (True, self.key["Arn"]))


class InstanceInformation(Conformance):
    """Systems Manager User Guide, "Setting up Systems Manager for EC2 instances": an
    instance with an instance profile whose agent reaches SSM's endpoints registers and
    is `Online` in DescribeInstanceInformation."""

    behaviour = "instance_information"
    regions = ("ap-southeast-1",)

    def setUp(self) -> None:
        super().setUp()
        self.configure("ap-southeast-1", {"instance_information": not SWITCHED_OFF,
                                          "ssm_online_after_seconds": 1})
        self.ec2, self.ssm = client("ec2", "ap-southeast-1"), client("ssm", "ap-southeast-1")

    def tearDown(self) -> None:
        emulate({"region": "ap-southeast-1", "ssm_online_after_seconds": 0})

    def online(self, *instances: str) -> list[tuple[str, str]]:
        listed = self.ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": list(instances)}]
        )["InstanceInformationList"]
        return sorted((i["InstanceId"], i["PingStatus"]) for i in listed)

    def test_an_instance_with_a_profile_and_a_way_to_ssm_is_online_once_its_agent_registers(self) -> None:
        instance = managed_instance(self.ec2, "ap-southeast-1")

        self.assertEqual(self.online(instance), [])
        time.sleep(1.2)
        self.assertEqual(self.online(instance), [(instance, "Online")])

    def test_an_instance_without_a_profile_or_without_a_way_to_ssm_is_not_managed(self) -> None:
        managed = managed_instance(self.ec2, "ap-southeast-1")
        no_profile = launch(self.ec2, "ap-southeast-1", NetworkInterfaces=[
            {"DeviceIndex": 0, "AssociatePublicIpAddress": True}])
        vpc = self.ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
        no_route = launch(self.ec2, "ap-southeast-1", SubnetId=subnet,
                          IamInstanceProfile={"Name": "bakery-builder"})
        time.sleep(1.2)

        self.assertEqual(self.online(managed, no_profile, no_route), [(managed, "Online")])


class DefaultVpc(Conformance):
    """VPC User Guide, "Default VPCs": a default VPC comes with an internet gateway and a
    route in its main route table that sends all IPv4 traffic (0.0.0.0/0) to it."""

    behaviour = "default_vpc_gateway"
    regions = ("ap-southeast-2",)

    def test_a_default_vpc_is_created_with_an_internet_gateway_and_a_default_route_to_it(self) -> None:
        ec2 = client("ec2", "ap-southeast-2")
        # The region's default VPC was made before this test chose its settings: deleted,
        # then made again with CreateDefaultVpc (EC2 API Reference, CreateDefaultVpc: "a
        # default VPC", with the components the "Default VPCs" page lists).
        for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
            on_vpc = [{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}]
            for gateway in ec2.describe_internet_gateways(Filters=on_vpc)["InternetGateways"]:
                ec2.detach_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc["VpcId"])
                ec2.delete_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"])
            in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
            for subnet in ec2.describe_subnets(Filters=in_vpc)["Subnets"]:
                ec2.delete_subnet(SubnetId=subnet["SubnetId"])
            ec2.delete_vpc(VpcId=vpc["VpcId"])

        vpc = ec2.create_default_vpc()["Vpc"]["VpcId"]

        gateways = ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}]
        )["InternetGateways"]
        self.assertEqual(len(gateways), 1)
        main = ec2.describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]},
        ])["RouteTables"][0]
        routes = [(r.get("DestinationCidrBlock"), r.get("GatewayId")) for r in main["Routes"]]
        self.assertIn(("0.0.0.0/0", gateways[0]["InternetGatewayId"]), routes)


class SendCommandTargets(Conformance):
    """Systems Manager API Reference, SendCommand: the command runs on the instances it
    names; an instance that is not a managed instance (or not online) is refused with
    InvalidInstanceId."""

    behaviour = "send_command_targets"
    regions = ("ap-southeast-3",)

    def setUp(self) -> None:
        super().setUp()
        self.ec2, self.ssm = client("ec2", "ap-southeast-3"), client("ssm", "ap-southeast-3")

    def send(self, instance: str) -> str:
        return self.ssm.send_command(
            InstanceIds=[instance], DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["true"]},
        )["Command"]["CommandId"]

    def online(self, instance: str) -> str:
        """The instance once SSM lists it online (its agent registers after its launch),
        within 20 seconds."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            listed = self.ssm.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [instance]}]
            )["InstanceInformationList"]
            if listed:
                return instance
            time.sleep(0.5)
        raise AssertionError(f"{instance} never came online")

    def test_a_command_runs_only_on_the_instance_it_names(self) -> None:
        named = self.online(managed_instance(self.ec2, "ap-southeast-3"))
        other = managed_instance(self.ec2, "ap-southeast-3")

        command = self.send(named)

        listed = self.ssm.list_commands(CommandId=command)["Commands"][0]
        self.assertEqual(listed["InstanceIds"], [named])
        self.assertEqual(
            error_code(self.ssm.get_command_invocation, CommandId=command, InstanceId=other),
            "InvocationDoesNotExist",
        )

    def test_a_command_for_an_instance_that_is_not_managed_is_refused_with_invalid_instance_id(self) -> None:
        unmanaged = launch(self.ec2, "ap-southeast-3")

        code = error_code(
            self.ssm.send_command, InstanceIds=[unmanaged], DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["true"]},
        )

        self.assertEqual(code, "InvalidInstanceId")


class CommandOutcomes(Conformance):
    """Systems Manager API Reference, GetCommandInvocation: an invocation is
    `InProgress` while the command runs, then `Success` or `Failed`, with the command's
    exit code (`ResponseCode`) and its output."""

    behaviour = "command_outcomes"
    regions = ("eu-central-1",)
    outcomes = [
        {"match": "apt-get install -y broken-package", "status": "Failed", "exit_code": 100,
         "stdout": "Reading package lists...\n",
         "stderr": "E: Unable to locate package broken-package\n"},
        {"match": "echo baked", "status": "Success", "exit_code": 0, "stdout": "baked\n"},
        # A fixture, not AWS: `times` lets a rule answer only its first N commands
        # (a mirror that fails once), so that a retry meets the next outcome.
        {"match": "curl flaky-mirror", "times": 1, "status": "Failed", "exit_code": 7},
    ]

    def setUp(self) -> None:
        self.configure("eu-central-1", {
            "command_seconds": 0 if SWITCHED_OFF else 1,
            "command_outcomes": [] if SWITCHED_OFF else self.outcomes,
        })
        self.ec2, self.ssm = client("ec2", "eu-central-1"), client("ssm", "eu-central-1")

    def tearDown(self) -> None:
        emulate({"region": "eu-central-1", "command_seconds": 0, "command_outcomes": []})

    def run_command(self, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The invocation at once, and once the command is over."""
        instance = managed_instance(self.ec2, "eu-central-1")
        command = self.ssm.send_command(
            InstanceIds=[instance], DocumentName="AWS-RunShellScript",
            Parameters={"commands": [text]},
        )["Command"]["CommandId"]
        running = self.ssm.get_command_invocation(CommandId=command, InstanceId=instance)
        time.sleep(1.2)
        return running, self.ssm.get_command_invocation(CommandId=command, InstanceId=instance)

    def test_a_command_is_in_progress_while_it_runs_then_succeeds_with_its_output(self) -> None:
        running, done = self.run_command("echo baked")

        self.assertEqual(running["Status"], "InProgress")
        self.assertEqual((done["Status"], done["ResponseCode"]), ("Success", 0))
        self.assertEqual(done["StandardOutputContent"], "baked\n")

    def test_a_failing_command_ends_failed_with_its_exit_code_and_error_output(self) -> None:
        running, done = self.run_command("apt-get install -y broken-package")

        self.assertEqual(running["Status"], "InProgress")
        self.assertEqual((done["Status"], done["ResponseCode"]), ("Failed", 100))
        self.assertEqual(done["StandardErrorContent"], "E: Unable to locate package broken-package\n")

    def test_a_rule_with_times_answers_only_its_first_commands(self) -> None:
        _, first = self.run_command("curl flaky-mirror")
        _, second = self.run_command("curl flaky-mirror")

        self.assertEqual((first["Status"], first["ResponseCode"]), ("Failed", 7))
        self.assertEqual((second["Status"], second["ResponseCode"]), ("Success", 0))


class CommandReboots(Conformance):
    """Systems Manager User Guide, "Handling reboots when running commands": a script
    that exits 194 (Linux) or 3010 (Windows) has SSM Agent reboot the node and start the
    script again once the reboot is over; the agent tells the service before it goes
    (DescribeInstanceInformation: `ConnectionLost` meanwhile) and the invocation stays
    in progress until the run after the reboot ends."""

    behaviour = "command_reboots"
    regions = ("af-south-1",)

    def setUp(self) -> None:
        super().setUp()
        self.configure("af-south-1", {
            "command_seconds": 0.5, "reboot_seconds": 1.5,
            "command_outcomes": [
                {"match": "install-kernel", "times": 1, "exit_code": 194, "status": "Failed"},
                {"match": "Install-WindowsUpdate", "times": 1, "exit_code": 3010,
                 "status": "Failed"},
                {"match": "install-kernel", "stdout": "up to date\n"},
            ],
        })
        self.ec2, self.ssm = client("ec2", "af-south-1"), client("ssm", "af-south-1")

    def tearDown(self) -> None:
        emulate({"region": "af-south-1", "command_seconds": 0, "reboot_seconds": 0,
                 "command_outcomes": []})

    def invocation(self, command: str, instance: str) -> dict[str, Any]:
        return self.ssm.get_command_invocation(CommandId=command, InstanceId=instance)

    def ping(self, instance: str) -> str:
        found = self.ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [instance]}]
        )["InstanceInformationList"]
        return found[0]["PingStatus"] if found else "absent"

    def reboot_by_exit_code(self, document: str, text: str) -> None:
        instance = managed_instance(self.ec2, "af-south-1")
        command = self.ssm.send_command(
            InstanceIds=[instance], DocumentName=document, Parameters={"commands": [text]},
        )["Command"]["CommandId"]
        time.sleep(1.0)  # the first run is over; the node is rebooting

        rebooting = self.invocation(command, instance)
        self.assertEqual(rebooting["Status"], "InProgress")
        self.assertEqual(self.ping(instance), "ConnectionLost")
        with self.assertRaises(ClientError) as refused:
            self.ssm.send_command(InstanceIds=[instance], DocumentName=document,
                                  Parameters={"commands": ["echo meanwhile"]})
        self.assertEqual(refused.exception.response["Error"]["Code"], "InvalidInstanceId")

        time.sleep(2.0)  # the reboot and the second run are over
        done = self.invocation(command, instance)
        self.assertEqual((done["Status"], done["ResponseCode"]), ("Success", 0))
        self.assertEqual(self.ping(instance), "Online")
        with urllib.request.urlopen(f"{ENDPOINT}/bakery-emulator/reboots", timeout=30) as answer:
            self.assertEqual(len(json.load(answer).get(instance, [])), 1)

    def test_exit_194_reboots_a_linux_node_and_runs_the_script_again(self) -> None:
        self.reboot_by_exit_code("AWS-RunShellScript", "install-kernel && exit 194")

    def test_exit_3010_reboots_a_windows_node_and_runs_the_script_again(self) -> None:
        self.reboot_by_exit_code("AWS-RunPowerShellScript", "Install-WindowsUpdate; exit 3010")


class CommandCloudWatchOutput(Conformance):
    """Systems Manager API Reference, SendCommand, `CloudWatchOutputConfig`: where the
    command's output goes, kept with the command and shown by ListCommands."""

    behaviour = "command_cloudwatch_output"
    regions = ("eu-south-1",)

    def test_a_commands_cloudwatch_output_config_is_listed_with_it(self) -> None:
        ec2, ssm = client("ec2", "eu-south-1"), client("ssm", "eu-south-1")
        config = {"CloudWatchLogGroupName": unique("/conformance/commands"),
                  "CloudWatchOutputEnabled": True}

        command = ssm.send_command(
            InstanceIds=[managed_instance(ec2, "eu-south-1")], DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["true"]}, CloudWatchOutputConfig=config,
        )["Command"]["CommandId"]

        listed = ssm.list_commands(CommandId=command)["Commands"][0]
        self.assertEqual(listed.get("CloudWatchOutputConfig"), config)


class ImageReferences(Conformance):
    """EC2 API Reference, DescribeImageReferences (EC2 User Guide, "Identify your
    resources referencing specified AMIs"): the instances and launch templates that
    use an image."""

    behaviour = "image_references"
    regions = ("ap-northeast-3",)

    def test_an_image_is_referenced_by_the_instance_and_launch_template_that_use_it(self) -> None:
        ec2 = client("ec2", "ap-northeast-3")
        image = ec2.create_image(
            InstanceId=launch(ec2, "ap-northeast-3"), Name=unique("conformance/referenced")
        )["ImageId"]
        unused = ec2.create_image(
            InstanceId=launch(ec2, "ap-northeast-3"), Name=unique("conformance/unreferenced")
        )["ImageId"]
        instance = ec2.run_instances(
            ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1
        )["Instances"][0]["InstanceId"]
        template = ec2.create_launch_template(
            LaunchTemplateName=unique("conformance-referencing"),
            LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]

        def references(image_id: str) -> list[tuple[str, str]]:
            answer = ec2.describe_image_references(ImageIds=[image_id], IncludeAllResourceTypes=True)
            return sorted((r["ResourceType"], r["Arn"].rsplit("/", 1)[-1]) for r in answer["ImageReferences"])

        self.assertEqual(references(image), [("ec2:Instance", instance), ("ec2:LaunchTemplate", template)])
        self.assertEqual(references(unused), [])

    def test_a_terminated_instance_still_references_its_image(self) -> None:
        ec2 = client("ec2", "ap-northeast-3")
        image = ec2.create_image(
            InstanceId=launch(ec2, "ap-northeast-3"), Name=unique("conformance/terminated-user")
        )["ImageId"]
        instance = ec2.run_instances(
            ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1
        )["Instances"][0]["InstanceId"]
        ec2.terminate_instances(InstanceIds=[instance])
        answer = ec2.describe_image_references(ImageIds=[image], IncludeAllResourceTypes=True)
        self.assertEqual(
            [r["Arn"].rsplit("/", 1)[-1] for r in answer["ImageReferences"]], [instance]
        )


class RegionOptIn(Conformance):
    """Account Management Reference Guide, "Enable or disable AWS Regions": a Region the
    account enabled is `opted-in`; one it did not is `not-opted-in`, and calls to it are
    refused with OptInRequired."""

    behaviour = "opt_in_regions"
    regions = ("ap-east-1", "me-south-1")

    def setUp(self) -> None:
        super().setUp()
        emulate({"region": "me-south-1", "opted_in": False})

    def tearDown(self) -> None:
        emulate({"region": "me-south-1", "opted_in": True})

    def status(self, region: str) -> str:
        regions = client("ec2", "ap-east-1").describe_regions(RegionNames=[region], AllRegions=True)
        return regions["Regions"][0]["OptInStatus"]

    def test_a_region_the_account_opted_in_to_is_opted_in(self) -> None:
        self.assertEqual(self.status("ap-east-1"), "opted-in")
        client("ec2", "ap-east-1").describe_instances()

    def test_a_region_the_account_did_not_opt_in_to_refuses_calls_with_opt_in_required(self) -> None:
        self.assertEqual(self.status("me-south-1"), "not-opted-in")
        self.assertEqual(error_code(client("ec2", "me-south-1").describe_instances), "OptInRequired")


class WindowsImageParameters(Conformance):
    """EC2 User Guide, "Find a Windows AMI using Systems Manager Parameter Store":
    /aws/service/ami-windows-latest/<name> holds the current Amazon image of that name."""

    behaviour = "windows_parameters"
    regions = ("us-west-1",)

    def test_the_windows_server_2022_parameter_names_a_current_amazon_windows_image(self) -> None:
        name = "Windows_Server-2022-English-Full-Base"

        value = client("ssm", "us-west-1").get_parameter(
            Name=f"/aws/service/ami-windows-latest/{name}"
        )["Parameter"]["Value"]

        image = client("ec2", "us-west-1").describe_images(ImageIds=[value])["Images"][0]
        self.assertTrue(image["Name"].startswith(f"{name}-"), image["Name"])
        self.assertEqual((image.get("Platform"), image.get("ImageOwnerAlias")), ("windows", "amazon"))


class RunInstancesImages(Conformance):
    """EC2 User Guide, "Use a Systems Manager parameter instead of an AMI ID": an
    `ImageId` of `resolve:ssm:<parameter>[:<version>]` launches the image the parameter
    holds. RunInstances refuses an instance type that cannot run the image's
    architecture with InvalidParameterValue."""

    behaviour = "run_instances_image_checks"
    regions = ("us-west-2",)

    def setUp(self) -> None:
        super().setUp()
        self.ec2 = client("ec2", "us-west-2")

    def image_of(self, instance_type: str, image_id: str) -> str:
        return self.ec2.run_instances(
            ImageId=image_id, InstanceType=instance_type, MinCount=1, MaxCount=1
        )["Instances"][0]["ImageId"]

    def images(self, architecture: str) -> list[str]:
        found = self.ec2.describe_images(
            Owners=["amazon"], Filters=[{"Name": "architecture", "Values": [architecture]}]
        )["Images"]
        return sorted(i["ImageId"] for i in found)

    def test_an_image_id_of_resolve_ssm_launches_the_image_the_parameter_holds(self) -> None:
        ssm = client("ssm", "us-west-2")
        first, second = self.images("x86_64")[:2]
        name = unique("/conformance/images/current")
        ssm.put_parameter(Name=name, Value=first, Type="String", DataType="aws:ec2:image")
        ssm.put_parameter(Name=name, Value=second, Type="String", DataType="aws:ec2:image", Overwrite=True)

        self.assertEqual(self.image_of("t3.micro", f"resolve:ssm:{name}"), second)
        self.assertEqual(self.image_of("t3.micro", f"resolve:ssm:{name}:1"), first)

    def test_an_instance_type_of_another_architecture_than_the_image_is_refused(self) -> None:
        arm = self.images("arm64")[0]

        code = error_code(
            self.ec2.run_instances, ImageId=arm, InstanceType="t3.micro", MinCount=1, MaxCount=1
        )

        self.assertEqual(code, "InvalidParameterValue")
        self.assertEqual(self.image_of("t4g.micro", arm), arm)


class InstanceMetadata(Conformance):
    """EC2 User Guide, "Use IMDSv2": a session token from `PUT latest/api/token` first,
    401 Unauthorized without it; "View tags for your EC2 instances from instance
    metadata": the tags only with `InstanceMetadataTags` enabled. The emulator serves
    each instance's metadata under /bakery-imds/<instance-id>/."""

    behaviour = "instance_metadata"
    regions = ("us-east-2",)

    def setUp(self) -> None:
        super().setUp()
        self.ec2 = client("ec2", "us-east-2")

    def metadata(self, instance: str, item: str, token: str | None) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{ENDPOINT}/bakery-imds/{instance}/latest/meta-data/{item}",
            headers={"X-aws-ec2-metadata-token": token} if token else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    def token(self, instance: str) -> str:
        request = urllib.request.Request(
            f"{ENDPOINT}/bakery-imds/{instance}/latest/api/token", method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.read().decode()

    def test_metadata_is_read_with_a_session_token_and_refused_without_one(self) -> None:
        instance = launch(self.ec2, "us-east-2")

        self.assertEqual(self.metadata(instance, "instance-id", None)[0], 401)
        token = self.token(instance)
        self.assertEqual(self.metadata(instance, "instance-id", token), (200, instance))
        self.assertEqual(self.metadata(instance, "placement/region", token), (200, "us-east-2"))
        self.assertEqual(self.metadata(instance, "ami-id", token), (200, an_image("us-east-2")))

    def test_an_instances_tags_are_in_its_metadata_only_when_it_allows_them(self) -> None:
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "base"}]}]
        allowed = launch(self.ec2, "us-east-2", TagSpecifications=tags,
                         MetadataOptions={"HttpTokens": "required", "InstanceMetadataTags": "enabled"})
        hidden = launch(self.ec2, "us-east-2", TagSpecifications=tags)
        token = self.token(allowed)

        self.assertEqual(self.metadata(allowed, "tags/instance", token), (200, "role"))
        self.assertEqual(self.metadata(allowed, "tags/instance/role", token), (200, "base"))
        self.assertEqual(self.metadata(hidden, "tags/instance/role", token)[0], 404)


def prove_each_test_fails_switched_off() -> int:
    """Every test must fail with its behaviour off; one that passes tests nothing."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    tests = _tests(suite)
    names = [test.id() for test in tests]
    result = unittest.TestResult()
    suite.run(result)
    switch_back_on(tests)
    failed = {test.id() for test, _ in result.failures + result.errors}
    passing = [name for name in names if name not in failed]
    for name in passing:
        print(f"passes with its behaviour switched off: {name}", file=sys.stderr)
    print(f"switched off: {result.testsRun - len(passing)} of {result.testsRun} tests fail, as they must")
    return 1 if passing or not result.testsRun else 0


def switch_back_on(tests: list[unittest.TestCase]) -> None:
    """Each class's switch on again in its regions, as the plain run leaves it: bakery's
    own tests follow in these regions. Switches that are not on by default (delays,
    required tags, the request meter that `configure` turns off) are the classes' own
    tearDown's to restore."""
    with urllib.request.urlopen(f"{ENDPOINT}/bakery-emulator/config", timeout=30) as answer:
        defaults = json.load(answer)
    for case in {type(test) for test in tests}:
        if defaults.get(case.behaviour) is True and case.behaviour != "request_meter":
            for region in case.regions:
                emulate({"region": region, case.behaviour: True})


def _tests(suite: unittest.TestSuite) -> list[unittest.TestCase]:
    tests: list[unittest.TestCase] = []
    for item in suite:
        tests.extend(_tests(item) if isinstance(item, unittest.TestSuite) else [item])
    return tests


if __name__ == "__main__":
    if sys.argv[1:] == ["--switched-off"]:
        SWITCHED_OFF = True
        sys.exit(prove_each_test_fails_switched_off())
    unittest.main(verbosity=1)
