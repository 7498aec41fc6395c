//! Where a builder runs: the default VPC or a subnet's, and the per-bake security group.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, RouteTableAssociation};

use super::{filter, filter_values, tag_filter, tag_map, tag_specification, Ec2};
use crate::aws::error::{dry_run_outcome, Context, OrAbsent};
use crate::error::Result;
use crate::model::SsmPath;

impl Ec2 {
    pub async fn default_vpc(&self) -> Result<Option<String>> {
        let out = self
            .client
            .describe_vpcs()
            .filters(filter("is-default", "true"))
            .send()
            .await
            .context(self.call("DescribeVpcs"))?;
        Ok(out
            .vpcs()
            .first()
            .and_then(|v| v.vpc_id())
            .map(str::to_string))
    }

    /// The subnet's VPC, or None when the region has no such subnet.
    pub async fn vpc_of_subnet(&self, subnet: &str) -> Result<Option<String>> {
        let out = self
            .client
            .describe_subnets()
            .subnet_ids(subnet)
            .send()
            .await
            .context(self.call("DescribeSubnets").on(subnet))
            .or_absent()?;
        Ok(out.and_then(|out| {
            out.subnets()
                .first()
                .and_then(|s| s.vpc_id())
                .map(str::to_string)
        }))
    }

    /// A default subnet of the VPC (the first by availability zone).
    pub async fn default_subnet(&self, vpc_id: &str) -> Result<Option<String>> {
        let out = self
            .client
            .describe_subnets()
            .filters(filter("vpc-id", vpc_id))
            .filters(filter("default-for-az", "true"))
            .send()
            .await
            .context(self.call("DescribeSubnets").on(vpc_id))?;
        let mut subnets: Vec<(&str, &str)> = out
            .subnets()
            .iter()
            .filter_map(|s| Some((s.availability_zone()?, s.subnet_id()?)))
            .collect();
        subnets.sort();
        Ok(subnets.first().map(|(_, id)| id.to_string()))
    }

    /// How an instance in `subnet` reaches SSM: the VPC's interface endpoints for
    /// ssm, ssmmessages and ec2messages, else the subnet's default route (its own
    /// route table, or the VPC's main one).
    pub async fn ssm_path(&self, vpc_id: &str, subnet: &str) -> Result<SsmPath> {
        let endpoints = self
            .client
            .describe_vpc_endpoints()
            .filters(filter("vpc-id", vpc_id))
            .send()
            .await
            .context(self.call("DescribeVpcEndpoints").on(vpc_id))?;
        let services: Vec<&str> = endpoints
            .vpc_endpoints()
            .iter()
            .filter(|e| {
                e.state()
                    .is_none_or(|s| s.as_str().eq_ignore_ascii_case("available"))
            })
            .filter_map(|e| e.service_name())
            .collect();
        let region = &self.region;
        if ["ssm", "ssmmessages", "ec2messages"]
            .iter()
            .all(|name| services.contains(&format!("com.amazonaws.{region}.{name}").as_str()))
        {
            return Ok(SsmPath::VpcEndpoints);
        }
        // One call for the VPC's tables: the subnet's own, else the VPC's main one.
        let tables = self
            .client
            .describe_route_tables()
            .filters(filter("vpc-id", vpc_id))
            .send()
            .await
            .context(self.call("DescribeRouteTables").on(vpc_id))?
            .route_tables()
            .to_vec();
        let associated = |with: &dyn Fn(&RouteTableAssociation) -> bool| {
            tables.iter().find(|t| t.associations().iter().any(with))
        };
        let table = associated(&|a| a.subnet_id() == Some(subnet))
            .or_else(|| associated(&|a| a.main() == Some(true)));
        let default_route = table.into_iter().flat_map(|t| t.routes()).find(|r| {
            r.destination_cidr_block() == Some("0.0.0.0/0")
                && r.state().is_none_or(|s| s.as_str() == "active")
        });
        Ok(match default_route {
            None => SsmPath::Nowhere,
            Some(route) if route.gateway_id().is_some_and(|g| g.starts_with("igw-")) => {
                SsmPath::InternetGateway
            }
            Some(_) => SsmPath::Nat,
        })
    }

    /// A security group with no inbound rules (the default outbound rule stays, so
    /// steps can reach package mirrors and the SSM endpoints).
    pub async fn create_security_group(
        &self,
        name: &str,
        description: &str,
        vpc_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let out = self
            .client
            .create_security_group()
            .group_name(name)
            .description(description)
            .vpc_id(vpc_id)
            .tag_specifications(tag_specification(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .context(self.call("CreateSecurityGroup").on(vpc_id))?;
        Ok(out.group_id().unwrap_or_default().to_string())
    }

    /// CreateSecurityGroup with DryRun.
    pub async fn check_create_security_group(&self, vpc_id: &str) -> Result<()> {
        let result = self
            .client
            .create_security_group()
            .group_name("bakery-dry-run")
            .description("bakery dry run")
            .vpc_id(vpc_id)
            .dry_run(true)
            .send()
            .await
            .context(self.call("CreateSecurityGroup").on(vpc_id));
        dry_run_outcome(result)
    }

    pub async fn delete_security_group(&self, group_id: &str) -> Result<()> {
        self.client
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
            .context(self.call("DeleteSecurityGroup").on(group_id))?;
        Ok(())
    }

    /// The security group named `name` in the VPC, if there is one.
    pub async fn security_group_named(&self, name: &str, vpc_id: &str) -> Result<Option<String>> {
        let out = self
            .client
            .describe_security_groups()
            .filters(filter("group-name", name))
            .filters(filter("vpc-id", vpc_id))
            .send()
            .await
            .context(self.call("DescribeSecurityGroups").on(name))?;
        Ok(out
            .security_groups()
            .first()
            .and_then(|g| g.group_id())
            .map(str::to_string))
    }

    /// Of `ids`, the groups that exist, each with its VPC. One call, filtered by id, so
    /// that a missing group is an absence rather than an error.
    pub async fn security_group_vpcs(&self, ids: &[String]) -> Result<BTreeMap<String, String>> {
        let out = self
            .client
            .describe_security_groups()
            .filters(filter_values("group-id", ids))
            .send()
            .await
            .context(self.call("DescribeSecurityGroups").on(&ids.join(",")))?;
        Ok(out
            .security_groups()
            .iter()
            .filter_map(|g| Some((g.group_id()?.to_string(), g.vpc_id()?.to_string())))
            .collect())
    }

    /// Security groups that carry `key=value`, with their tags.
    pub async fn security_groups_tagged(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<(String, BTreeMap<String, String>)>> {
        let out = self
            .client
            .describe_security_groups()
            .filters(tag_filter(key, value))
            .send()
            .await
            .context(self.call("DescribeSecurityGroups").on(value))?;
        Ok(out
            .security_groups()
            .iter()
            .filter_map(|g| Some((g.group_id()?.to_string(), tag_map(g.tags()))))
            .collect())
    }
}
