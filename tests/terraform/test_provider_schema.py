"""The root module against the schemas of the providers it pins, so that a wrong name fails here, offline.

`terraform validate` needs the provider binaries and so only runs in CI. This test catches the same class
of mistake earlier: an argument or nested block the pinned provider does not have, a block written as an
attribute (`network = {...}`) or the reverse, a missing required argument, a reference to an attribute
the resource does not export, or a mock default for an attribute that does not exist.

SCHEMAS is the subset of terraform-provider-openstack 3.4.0 (docs/resources/*.md, docs/data-sources/*.md
and openstack/*_v2.go of its repository), hashicorp/random 3.8.1 and hashicorp/tls 4.3.0 that this module
uses. A resource type missing here fails the test on purpose: add it after checking its page for the
pinned version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

import pytest
from terraform_helpers import TERRAFORM_DIR

from tools.pins import load

META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle"}
IS_BLOCK = "__is_block__"


@dataclass(frozen=True)
class Schema:
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    # Nested block name -> the arguments it takes.
    blocks: dict[str, frozenset[str]] = field(default_factory=dict)
    # Read-only attributes (every resource also has `id`).
    computed: frozenset[str] = frozenset()

    def attributes(self) -> set[str]:
        return {"id", *self.required, *self.optional, *self.blocks, *self.computed}


def schema(required: str = "", optional: str = "", computed: str = "", **blocks: str) -> Schema:
    return Schema(
        frozenset(required.split()),
        frozenset(optional.split()),
        {name: frozenset(args.split()) for name, args in blocks.items()},
        frozenset(computed.split()),
    )


RESOURCES = {
    # hashicorp/tls 4.3.0 (`terraform providers schema -json` of the build in the mirror).
    "tls_private_key": schema(
        "algorithm",
        "ecdsa_curve rsa_bits",
        "private_key_openssh private_key_pem private_key_pem_pkcs8 public_key_fingerprint_md5"
        " public_key_fingerprint_sha256 public_key_openssh public_key_pem",
    ),
    "tls_self_signed_cert": schema(
        "allowed_uses validity_period_hours",
        "dns_names early_renewal_hours ip_addresses is_ca_certificate max_path_length private_key_pem"
        " private_key_pem_wo private_key_pem_wo_version set_authority_key_id set_subject_key_id uris",
        "cert_pem key_algorithm ready_for_renewal validity_end_time validity_start_time",
        subject="common_name country email_address locality organization organizational_unit postal_code"
        " province serial_number street_address",
    ),
    "random_password": schema(
        "length",
        "keepers lower min_lower min_numeric min_special min_upper numeric override_special special upper",
        "result bcrypt_hash",
    ),
    "openstack_compute_keypair_v2": schema(
        "name", "region public_key user_id value_specs", "fingerprint private_key"
    ),
    "openstack_compute_instance_v2": schema(
        "name",
        "region image_id image_name flavor_id flavor_name user_data security_groups availability_zone_hints"
        " availability_zone network_mode metadata config_drive admin_pass key_pair stop_before_destroy"
        " force_delete power_state tags hypervisor_hostname",
        "access_ip_v4 access_ip_v6 all_metadata all_tags created updated",
        network="uuid name port fixed_ip_v4 access_network",
        block_device="uuid source_type volume_size guest_format boot_index destination_type"
        " delete_on_termination volume_type device_type disk_bus multiattach",
        scheduler_hints="group different_host same_host query target_cell different_cell build_near_host_ip"
        " additional_properties",
        personality="file content",
        vendor_options="ignore_resize_confirmation detach_ports_before_destroy",
    ),
    "openstack_networking_network_v2": schema(
        "",
        "region name description shared external tenant_id admin_state_up value_specs availability_zone_hints"
        " tags transparent_vlan port_security_enabled mtu dns_domain qos_policy_id",
        "all_tags",
        segments="physical_network segmentation_id network_type",
    ),
    "openstack_networking_subnet_v2": schema(
        "network_id",
        "region cidr prefix_length ip_version ipv6_address_mode ipv6_ra_mode name description tenant_id"
        " gateway_ip no_gateway enable_dhcp dns_nameservers dns_publish_fixed_ip service_types"
        " subnetpool_id value_specs tags",
        "all_tags",
        allocation_pool="start end",
    ),
    "openstack_networking_router_v2": schema(
        "",
        "region name description admin_state_up distributed external_network_id external_qos_policy_id"
        " enable_snat external_subnet_ids tenant_id value_specs tags availability_zone_hints flavor_id",
        "all_tags",
        external_fixed_ip="subnet_id ip_address",
        vendor_options="set_router_gateway_after_create",
    ),
    "openstack_networking_router_interface_v2": schema("router_id", "region subnet_id port_id force_destroy"),
    "openstack_networking_secgroup_v2": schema(
        "name", "region description tenant_id delete_default_rules stateful tags", "all_tags"
    ),
    "openstack_networking_secgroup_rule_v2": schema(
        "direction ethertype security_group_id",
        "region description port_range_min port_range_max protocol remote_group_id remote_ip_prefix"
        " remote_address_group_id tenant_id",
    ),
    "openstack_networking_port_v2": schema(
        "network_id",
        "region name description admin_state_up mac_address tenant_id device_owner security_group_ids"
        " no_security_groups device_id no_fixed_ip port_security_enabled value_specs tags dns_name"
        " qos_policy_id",
        "all_fixed_ips all_security_group_ids all_tags dns_assignment",
        fixed_ip="subnet_id ip_address",
        allowed_address_pairs="ip_address mac_address",
        extra_dhcp_option="name value ip_version",
        binding="host_id profile vnic_type",
    ),
    "openstack_networking_floatingip_v2": schema(
        "pool",
        "region description port_id tenant_id address fixed_ip subnet_id subnet_ids value_specs tags"
        " dns_name dns_domain",
        "all_tags",
    ),
    "openstack_networking_floatingip_associate_v2": schema("floating_ip port_id", "region"),
}
DATA_SOURCES = {
    "openstack_images_image_v2": schema(
        "",
        "region name visibility member_status owner size_min size_max sort tag most_recent properties hidden"
        " name_regex container_format disk_format",
        "min_disk_gb min_ram_mb protected checksum size_bytes metadata created_at updated_at file schema"
        " tags",
    ),
    "openstack_networking_network_v2": schema(
        "",
        "region network_id name description status external matching_subnet_cidr tenant_id"
        " availability_zone_hints transparent_vlan tags mtu",
        "admin_state_up shared all_tags subnets dns_domain segments",
    ),
}
# Required-with-alternatives that the schema alone cannot express.
ONE_OF = {
    "openstack_compute_instance_v2": [
        {"image_id", "image_name", "block_device"},
        {"flavor_id", "flavor_name"},
    ],
    "openstack_compute_instance_v2.network": [{"uuid", "name", "port"}],
}
NESTED_REQUIRED = {"openstack_networking_port_v2.fixed_ip": {"subnet_id"}}


@cache
def parsed() -> dict[str, dict]:
    return {
        path.name: load(path, explicit_blocks=True, with_comments=False)
        for path in sorted(TERRAFORM_DIR.glob("*.tf"))
    }


def declared(kind: str) -> list[tuple[str, str, dict]]:
    return [
        (rtype, name, body)
        for doc in parsed().values()
        for block in doc.get(kind, [])
        for rtype, named in block.items()
        if rtype != IS_BLOCK
        for name, body in named.items()
        if name != IS_BLOCK
    ]


def everything() -> list[tuple[str, str, dict, Schema]]:
    return [(t, n, b, RESOURCES.get(t)) for t, n, b in declared("resource")] + [
        (f"data.{t}", n, b, DATA_SOURCES.get(t)) for t, n, b in declared("data")
    ]


def with_dynamic_blocks(body: dict) -> dict:
    """The body with each `dynamic "x" { content { ... } }` written as the `x { ... }` blocks it makes."""
    expanded = {key: value for key, value in body.items() if key != "dynamic"}
    for dynamic in body.get("dynamic", []):
        for name, generator in dynamic.items():
            if name == IS_BLOCK:
                continue
            assert set(generator) - {IS_BLOCK} <= {"for_each", "iterator", "labels", "content"}, generator
            expanded.setdefault(name, []).extend(generator["content"])
    return expanded


def is_block(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and item.get(IS_BLOCK) for item in value)
    )


def test_every_type_used_is_one_whose_schema_was_checked() -> None:
    unknown = sorted({rtype for rtype, _, _, found in everything() if found is None})
    assert not unknown, f"check these against the pinned provider's docs, then add them to SCHEMAS: {unknown}"


@pytest.mark.parametrize(
    ("rtype", "name", "body", "spec"),
    [pytest.param(*entry, id=f"{entry[0]}.{entry[1]}") for entry in everything() if entry[3]],
)
def test_arguments_and_blocks_exist_in_the_pinned_provider(
    rtype: str, name: str, body: dict, spec: Schema
) -> None:
    where = f"{rtype}.{name}"
    body = with_dynamic_blocks(body)
    arguments = {key for key in body if key != IS_BLOCK} - META_ARGUMENTS
    for key in sorted(arguments):
        value = body[key]
        if key in spec.blocks:
            assert is_block(value), f"{where}: `{key}` is a nested block: `{key} {{ ... }}`, not `{key} =`"
            for item in value:
                nested = set(item) - {IS_BLOCK}
                unknown = nested - spec.blocks[key]
                assert not unknown, f"{where}.{key}: unknown {sorted(unknown)}"
                missing = NESTED_REQUIRED.get(f"{rtype}.{key}", set()) - nested
                assert not missing, f"{where}.{key}: missing required {sorted(missing)}"
                for group in ONE_OF.get(f"{rtype}.{key}", []):
                    assert nested & group, f"{where}.{key}: needs one of {sorted(group)}"
        else:
            assert key in spec.required | spec.optional, f"{where}: `{key}` is not an argument of {rtype}"
            assert not is_block(value), f"{where}: `{key}` is an argument: write `{key} = ...`"
    missing = spec.required - arguments
    assert not missing, f"{where}: missing required arguments {sorted(missing)}"
    for group in ONE_OF.get(rtype, []):
        assert arguments & group, f"{where}: needs one of {sorted(group)}"


# `openstack_x.name.attr`, `openstack_x.name[i].attr` and `data.openstack_x.name.attr`.
REFERENCE = re.compile(r"\b(data\.)?((?:openstack|random|tls)_\w+)\.(\w+)(?:\[[^\]]*\])?\.(\w+)")


def references() -> list[tuple[str, str, str, str]]:
    sources = [*TERRAFORM_DIR.glob("*.tf"), *TERRAFORM_DIR.glob("tests/*.tftest.hcl")]
    return sorted(
        {
            (path.relative_to(TERRAFORM_DIR).as_posix(), f"{data or ''}{rtype}", name, attribute)
            for path in sources
            for data, rtype, name, attribute in REFERENCE.findall(path.read_text())
        }
    )


def test_references_name_declared_resources_and_exported_attributes() -> None:
    declared_names = {(rtype, name) for rtype, name, _, _ in everything()}
    checked = 0
    for path, rtype, name, attribute in references():
        assert (rtype, name) in declared_names, f"{path}: {rtype}.{name} is not declared in terraform/*.tf"
        table = DATA_SOURCES if rtype.startswith("data.") else RESOURCES
        spec = table.get(rtype.removeprefix("data."))
        assert spec is not None, f"{path}: no schema for {rtype}"
        assert attribute in spec.attributes(), f"{path}: {rtype} has no attribute `{attribute}`"
        checked += 1
    assert checked > 10, "the reference pattern no longer finds the module's references"


@cache
def cluster_tests() -> dict:
    (path,) = TERRAFORM_DIR.glob("tests/cluster.tftest.hcl")
    return load(path, explicit_blocks=True, with_comments=False)


def test_mock_defaults_and_overrides_set_real_attributes() -> None:
    (openstack,) = [m["openstack"] for m in cluster_tests()["mock_provider"] if "openstack" in m]
    mocks = [("mock_resource", RESOURCES), ("mock_data", DATA_SOURCES)]
    seen = 0
    for kind, table in mocks:
        for block in openstack.get(kind, []):
            for rtype, body in block.items():
                if rtype == IS_BLOCK:
                    continue
                assert rtype in table, f"{kind} {rtype}: not a type this module uses"
                unknown = set(body["defaults"]) - table[rtype].attributes()
                assert not unknown, f"{kind} {rtype}: no such attributes {sorted(unknown)}"
                seen += 1
    for override in cluster_tests().get("override_resource", []):
        rtype, _name = override["target"].strip("${}").split(".")
        assert set(override["values"]) <= RESOURCES[rtype].attributes(), f"override of {rtype}"
        seen += 1
    assert seen >= 3


def test_plan_only_runs_assert_nothing_unknown_until_apply() -> None:
    # With `command = plan`, ids, the floating IP and the tokens are still unknown: those runs may only
    # expect validation failures, which Terraform reports before anything is created.
    for run in cluster_tests()["run"]:
        ((name, body),) = [(k, v) for k, v in run.items() if k != IS_BLOCK]
        if body.get("command") == "plan":
            assert "assert" not in body, f"run {name} asserts on values unknown at plan time"
            assert body.get("expect_failures"), f"run {name} plans without checking anything"
