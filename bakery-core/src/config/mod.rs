//! L1, files and flags -> checked settings: `recipe.toml` ([`recipe`]), `bakery.toml`
//! ([`environment`]), the settings every layer fills and their merge ([`settings`],
//! [`layering`]), the recipe's variables ([`vars`]), the checks of single values ([`checks`]), the release gate's settings
//! ([`mod@test`]), and `bakery validate`.
//! A file's mistakes are reported together, each at its line ([`located`]).

pub mod checks;
pub mod confined;
pub mod destinations;
pub mod digest;
pub mod environment;
pub mod firstboot;
pub mod flags;
pub mod layering;
pub mod located;
pub mod powershell;
pub mod recipe;
pub mod settings;
pub mod test;
pub mod validate;
pub mod vars;

pub use destinations::Destination;
pub use environment::Environment;
pub use flags::SettingsFlags;
pub use recipe::{BaseImage, BaseSelector, Recipe};
pub use settings::{BuilderSettings, Merged, Settings, Source};
