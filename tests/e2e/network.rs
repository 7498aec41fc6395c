//! Where the builder sits in the network: a public address only when its subnet needs
//! one to reach SSM (or the recipe asks), the metadata service one hop away unless the
//! recipe asks for more, and the path to SSM said before launch.

use aws_sdk_ec2::types::Instance;
use serde_json::json;

use crate::support::{Account, TestRecipe};

/// A VPC with one subnet and no internet gateway; `reach` adds its path to SSM.
async fn private_subnet(aws: &Account, cidr: &str, reach: Reach) -> String {
    let vpc = aws.ec2.create_vpc().cidr_block(cidr).send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = aws
        .ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block(cidr)
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    match reach {
        Reach::Endpoints => {
            for service in ["ssm", "ssmmessages", "ec2messages"] {
                aws.ec2
                    .create_vpc_endpoint()
                    .vpc_id(&vpc)
                    .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
                    .service_name(format!("com.amazonaws.{}.{service}", aws.region))
                    .subnet_ids(&subnet)
                    .send()
                    .await
                    .unwrap();
            }
        }
        Reach::Nat => {
            let nat = aws
                .ec2
                .create_nat_gateway()
                .subnet_id(&subnet)
                .send()
                .await
                .unwrap();
            let nat = nat.nat_gateway().unwrap().nat_gateway_id().unwrap();
            let tables = aws.ec2.describe_route_tables().send().await.unwrap();
            let main = tables
                .route_tables()
                .iter()
                .find(|t| t.vpc_id() == Some(vpc.as_str()))
                .unwrap();
            aws.ec2
                .create_route()
                .route_table_id(main.route_table_id().unwrap())
                .destination_cidr_block("0.0.0.0/0")
                .nat_gateway_id(nat)
                .send()
                .await
                .unwrap();
        }
    }
    subnet
}

#[derive(Clone, Copy)]
enum Reach {
    Endpoints,
    Nat,
}

/// Bakes `recipe` into `subnet` with a step that fails, keeping the builder to look at.
async fn kept_builder(aws: &Account, recipe: &TestRecipe, subnet: &str) -> (Instance, String) {
    let bake = aws
        .bakery()
        .bake_json(recipe.path(), "1.0.0")
        .args(["--subnet", subnet, "--keep-on-failure"])
        .run();
    bake.expect_code(1);
    let id = bake.json()["builder_instance_id"]
        .as_str()
        .unwrap()
        .to_string();
    let found = aws.ec2.describe_instances().instance_ids(&id).send();
    let found = found.await.unwrap();
    let builder = found.reservations()[0].instances()[0].clone();
    aws.terminate(&id).await;
    (builder, bake.stderr)
}

/// A recipe whose step fails; on moto's own image, which every region has.
fn failing(role: &str, toml: &str) -> TestRecipe {
    TestRecipe::new(role)
        .with_base("image = \"ami-1e749f67\"")
        .with_toml(toml)
        .step("fail", "#!/bin/sh\nexit 9\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_builder_behind_endpoints_or_a_nat_gets_no_public_address_and_one_metadata_hop() {
    let aws = Account::fresh().await;
    aws.emulate(
        json!({ "command_outcomes": [{"match": "exit 9", "status": "Failed", "exit_code": 9}] }),
    );
    let endpoints = private_subnet(&aws, "10.1.0.0/24", Reach::Endpoints).await;
    let nat = private_subnet(&aws, "10.2.0.0/24", Reach::Nat).await;
    let recipe = failing("private", "");

    for (subnet, path) in [(&endpoints, "vpc-endpoints"), (&nat, "nat")] {
        let (builder, events) = kept_builder(&aws, &recipe, subnet).await;

        assert_eq!(builder.public_ip_address(), None, "{path}");
        assert!(
            events.contains(&format!("reaches SSM through {path}")),
            "{events}"
        );
        assert!(events.contains("no public address"), "{events}");
        let metadata = builder.metadata_options().unwrap();
        assert_eq!(metadata.http_put_response_hop_limit(), Some(1));
        assert_eq!(
            metadata.http_tokens(),
            Some(&aws_sdk_ec2::types::HttpTokensState::Required)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipe_may_ask_for_a_public_address_and_more_metadata_hops() {
    let aws = Account::fresh().await;
    aws.emulate(
        json!({ "command_outcomes": [{"match": "exit 9", "status": "Failed", "exit_code": 9}] }),
    );
    let subnet = private_subnet(&aws, "10.3.0.0/24", Reach::Endpoints).await;
    let recipe = failing(
        "containers",
        "public_address = \"always\"\nmetadata_hop_limit = 2\n",
    );

    let (builder, _) = kept_builder(&aws, &recipe, &subnet).await;

    assert!(builder.public_ip_address().is_some());
    let metadata = builder.metadata_options().unwrap();
    assert_eq!(metadata.http_put_response_hop_limit(), Some(2));
}
