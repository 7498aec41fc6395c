//! L1, files and flags -> checked settings: `recipe.toml` ([`recipe`]), `bakery.toml`
//! ([`environment`]), the settings every layer fills and their merge (`settings`,
//! [`layering`]), the recipe's variables (`vars`), the checks of single values ([`checks`]), the release gate's settings
//! (`test`), and `bakery validate`.
//! A file's mistakes are reported together, each at its line (`located`).

pub mod checks;
pub(crate) mod confined;
pub(crate) mod destinations;
pub(crate) mod digest;
pub mod environment;
pub(crate) mod firstboot;
pub mod flags;
pub mod layering;
pub(crate) mod located;
pub mod powershell;
pub mod recipe;
pub(crate) mod settings;
pub(crate) mod test;
pub mod validate;
pub(crate) mod vars;

pub use destinations::Destination;
pub use environment::Environment;
pub use flags::SettingsFlags;
pub use recipe::{BaseImage, BaseSelector, Recipe};
pub use settings::{BuilderSettings, Merged, Settings, Source};
