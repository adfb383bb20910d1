//! Firmware versions in the three forms the protocol carries them, compared as numbers.
//!
//! * `software-version` as phones report it: `V3 R5.12.0` (guide p. 35), `V1 R4.9.0` (p. 57);
//! * `file-sw-version` in a `SoftwareDeployment`: the dotted `1.4.9.0` (p. 57);
//! * the vendor's image names: `OS_80_SIP_V1_R4_9_0.img` is `V1 R4.9.0` (p. 57).
//!
//! The guide's one example pairs them: the image `OS_80_SIP_V1_R4_9_0.img` is deployed with
//! `file-sw-version` `1.4.9.0`, and the phone starts up with `software-version` `V1 R4.9.0`
//! (p. 57). So `Va Rb.c.d` and `a.b.c.d` are one version.

use std::fmt;

/// A firmware version: `V{major} R{release}.{fix}.{build}`, ordered field by field as numbers
/// (`V3 R5.12.0` is newer than `V3 R5.9.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FirmwareVersion {
    /// The `V` number.
    pub major: u32,
    /// The `R` number.
    pub release: u32,
    /// The first number after the release.
    pub fix: u32,
    /// The second number after the release (0 when absent).
    pub build: u32,
}

impl FirmwareVersion {
    /// Reads `V3 R5.12.0` (also `V3R5.12.0`, any case, text after the numbers ignored, such
    /// as a build date) or the dotted `3.5.12.0`. `None` for anything else.
    pub fn parse(text: &str) -> Option<FirmwareVersion> {
        let text = text.trim();
        match text.strip_prefix(['V', 'v']) {
            Some(rest) => {
                let (major, rest) = leading_number(rest)?;
                let rest = rest.trim_start().strip_prefix(['R', 'r'])?;
                let numbers = dotted_numbers(rest, '.');
                from_numbers(major, &numbers)
            }
            None => {
                let numbers = dotted_numbers(text, '.');
                let (&major, rest) = numbers.split_first()?;
                (numbers.len() >= 3).then(|| from_numbers(major, rest)).flatten()
            }
        }
    }

    /// The version a vendor image's file name gives (`OS_80_SIP_V1_R4_9_0.img`,
    /// `…_V3_R5_12_0.img`), if it gives one.
    pub fn from_image_name(name: &str) -> Option<FirmwareVersion> {
        let stem = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let parts: Vec<&str> = stem.split(['_', '.', '-']).collect();
        parts.windows(2).enumerate().find_map(|(at, pair)| {
            let major = pair[0].strip_prefix(['V', 'v'])?.parse::<u32>().ok()?;
            let release = pair[1].strip_prefix(['R', 'r'])?.parse::<u32>().ok()?;
            let rest: Vec<u32> = parts[at + 2..].iter().map_while(|p| p.parse::<u32>().ok()).collect();
            let mut numbers = vec![release];
            numbers.extend(rest);
            from_numbers(major, &numbers)
        })
    }

    /// The dotted form `file-sw-version` carries (p. 57): `V1 R4.9.0` is `1.4.9.0`.
    pub fn dotted(&self) -> String {
        format!("{}.{}.{}.{}", self.major, self.release, self.fix, self.build)
    }
}

impl fmt::Display for FirmwareVersion {
    /// The form phones report in `software-version`: `V1 R4.9.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V{} R{}.{}.{}", self.major, self.release, self.fix, self.build)
    }
}

fn leading_number(text: &str) -> Option<(u32, &str)> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    Some((text[..digits].parse().ok()?, &text[digits..]))
}

/// The numbers at the start of `text` separated by `separator`, up to the first non-number.
fn dotted_numbers(text: &str, separator: char) -> Vec<u32> {
    let head = text.split_whitespace().next().unwrap_or("");
    head.split(separator).map_while(|part| part.parse::<u32>().ok()).collect()
}

fn from_numbers(major: u32, numbers: &[u32]) -> Option<FirmwareVersion> {
    match numbers {
        [release, fix, rest @ ..] => Some(FirmwareVersion {
            major,
            release: *release,
            fix: *fix,
            build: rest.first().copied().unwrap_or(0),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> FirmwareVersion {
        FirmwareVersion::parse(text).unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn the_guides_forms_are_one_version() {
        // guide p. 57: image, file-sw-version and the reported software-version.
        let image = FirmwareVersion::from_image_name("OS_80_SIP_V1_R4_9_0.img").unwrap();
        assert_eq!(image, version("1.4.9.0"));
        assert_eq!(image, version("V1 R4.9.0"));
        assert_eq!(image.to_string(), "V1 R4.9.0");
        assert_eq!(image.dotted(), "1.4.9.0");
        // p. 35
        assert_eq!(version("V3 R5.12.0"), FirmwareVersion { major: 3, release: 5, fix: 12, build: 0 });
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version("V3 R5.12.0") > version("V3 R5.9.1"));
        assert!(version("V3 R5.9.1") > version("V3 R5.9.0"));
        assert!(version("V3 R1.41.0") < version("V3 R3.0.0"));
        assert!(version("V1 R6.7.0") < version("V3 R0.0.0"), "V is compared first");
        assert_eq!(version("v3r5.12.0"), version("V3 R5.12.0"));
        assert_eq!(version("V3 R5.12.0 SIP 210127"), version("V3 R5.12.0"), "a build note is ignored");
        assert_eq!(version("V3 R5.12"), version("V3 R5.12.0"));
    }

    #[test]
    fn what_is_not_a_version_is_none() {
        for text in ["", "unknown", "V3", "V3 R5", "3.5", "R5.12.0", "Vx R1.2.3"] {
            assert_eq!(FirmwareVersion::parse(text), None, "{text:?}");
        }
        assert_eq!(FirmwareVersion::from_image_name("ringtone.wav"), None);
        assert_eq!(
            FirmwareVersion::from_image_name("/srv/fw/OS_60_SIP_V3_R5_12_0.img").unwrap().to_string(),
            "V3 R5.12.0"
        );
    }
}
