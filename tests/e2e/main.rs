//! End-to-end tests: the real `bakery` binary (and the Linux firstboot agent) against
//! the local AWS emulator — moto with bakery's extension, started by scripts/local-aws
//! and reset once per run. Each test takes a region no other test has
//! (`Account::fresh()`, and `neighbour()` for more regions of the same emulator), so
//! tests run in parallel without seeing each other. One file per topic:
//!
//! | file | what it proves |
//! |---|---|
//! | `bake` | the chain makes a tagged release; the builder's hardening; retries |
//! | `architectures` | x86_64 and arm64 in one release: channels, layering, all or nothing, the lifecycle |
//! | `failures`, `signals` | failed, refused and interrupted bakes leave nothing behind |
//! | `gate` | the release gate: tests on a test instance before a release; `--skip-tests`, `bakery test`, promote's refusal |
//! | `releases` | versions and claims, races between bakes |
//! | `changes` | the inputs fingerprint, `bake --if-changed` and its cascade, `outdated` |
//! | `lifecycle` | channels, promote and roll back, `releases`, `prune` |
//! | `regions` | a channel, a retirement and `latest` mean one thing in every region |
//! | `library` | bakery-core's example program bakes a release through `Bakery` |
//! | `layering` | roles on another role's release; `bake --all`, `--only`, `--except` |
//! | `manifest` | `--manifest` as Jenkins reads it: checked first, a build per role, never a lie |
//! | `reboots` | `reboot = true` and exit code 194: the builder reboots, the next step waits for it |
//! | `network` | no public address behind endpoints or a NAT; one metadata hop unless asked |
//! | `faults` | a third of EC2 and SSM calls failing: one image per release, nothing left; a fault that stays |
//! | `corpus` | over 150 bad inputs refused with their code and name, AWS left as it was |
//! | `config` | bakery.toml in real bakes: `--dry-run`, step output |
//! | `secrets` | step secrets never leave SSM; hostile values stay values |
//! | `variables` | a step knows its release (`BAKERY_*`) and the recipe's `[vars]` |
//! | `firstboot` | the Linux agent runs for real against S3, SNS and IMDSv2 |
//! | `installs` | every bake installs the agent, on Linux and Windows |
//! | `distribute`, `sharing` | copies in other regions; launch and volume permissions, KMS |
//! | `alerts` | SNS messages of failed and successful bakes |
//! | `janitor`, `kill` | `bakery cleanup` after `kill -9` at every step |
//! | `lost_answers` | every create survives a lost answer; cleanup never takes a release |
//! | `audit` | fleets by release, policy violations |
//! | `vocabulary` | every command's JSON names arch, region and image_id alike |
//! | `docs` | every command line of README.md and docs/*.md runs as written, in a fresh copy |
//!
//! Offline commands (validate, plan, config show, firstboot render) are in `tests/cli`.

#[path = "../support/bakery.rs"]
mod bakery;
#[path = "../support/recipe.rs"]
mod recipe;

mod alerts;
mod architectures;
mod audit;
mod bake;
mod changes;
mod config;
mod corpus;
mod distribute;
mod docs;
mod failures;
mod faults;
mod firstboot;
mod gate;
mod installs;
mod janitor;
mod kill;
mod layering;
mod library;
mod lifecycle;
mod lost_answers;
mod manifest;
mod network;
mod reboots;
mod regions;
mod releases;
mod secrets;
mod sharing;
mod signals;
mod support;
mod variables;
mod vocabulary;
mod waits;
