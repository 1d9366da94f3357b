//! The exchange segments a Kite trader trades in, each with its own sessions and holidays.

use serde::{Deserialize, Serialize};

/// An exchange segment. Written `nse-cm`, `nse-fo`, `bse-cm`, `bse-fo`, `cds`, `mcx` on the wire,
/// on the command line and in calendar files.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Segment {
    /// NSE capital market (cash equities): the specification's market, and the default.
    #[default]
    #[serde(rename = "nse-cm")]
    NseCm,
    /// NSE equity derivatives (F&O, Kite's `NFO`).
    #[serde(rename = "nse-fo")]
    NseFo,
    /// BSE cash equities.
    #[serde(rename = "bse-cm")]
    BseCm,
    /// BSE equity derivatives (Kite's `BFO`).
    #[serde(rename = "bse-fo")]
    BseFo,
    /// Currency derivatives (Kite's `CDS`, and BSE's and MCX-SX's currency segments).
    #[serde(rename = "cds")]
    Cds,
    /// Commodity derivatives on MCX.
    #[serde(rename = "mcx")]
    Mcx,
}

impl Segment {
    /// Every segment, in the order answers list them.
    pub const ALL: [Self; 6] = [
        Self::NseCm,
        Self::NseFo,
        Self::BseCm,
        Self::BseFo,
        Self::Cds,
        Self::Mcx,
    ];

    /// The equity segments, which share NSE's equity holiday list.
    pub const EQUITY: [Self; 4] = [Self::NseCm, Self::NseFo, Self::BseCm, Self::BseFo];

    /// The segment's place in [`Segment::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name on the wire and in files, e.g. `"nse-fo"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NseCm => "nse-cm",
            Self::NseFo => "nse-fo",
            Self::BseCm => "bse-cm",
            Self::BseFo => "bse-fo",
            Self::Cds => "cds",
            Self::Mcx => "mcx",
        }
    }

    /// A name for people, e.g. `"NSE F&O"`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::NseCm => "NSE cash",
            Self::NseFo => "NSE F&O",
            Self::BseCm => "BSE cash",
            Self::BseFo => "BSE F&O",
            Self::Cds => "Currency",
            Self::Mcx => "MCX",
        }
    }

    /// Whose holiday list the segment follows, for warnings: "NSE holiday list for 2027 not
    /// loaded".
    pub const fn holiday_list(self) -> &'static str {
        match self {
            Self::NseCm | Self::NseFo => "NSE",
            Self::BseCm | Self::BseFo => "BSE",
            Self::Cds => "Currency",
            Self::Mcx => "MCX",
        }
    }

    /// The segment named `text` (`nse-cm`, …), case-insensitive.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|segment| segment.as_str().eq_ignore_ascii_case(text))
    }

    /// The segment of a Kite instrument token: its low byte, as Kite defines it (1 NSE, 2 NFO,
    /// 3 CDS, 4 BSE, 5 BFO, 6 BCD, 7 MCX, 8 MCX-SX, 9 indices). Indices follow `nse-cm`, and the
    /// currency segments of BSE and MCX-SX follow `cds`. `None` for a code Kite does not define.
    pub const fn of_instrument(token: u32) -> Option<Self> {
        match token & 0xff {
            1 | 9 => Some(Self::NseCm),
            2 => Some(Self::NseFo),
            3 | 6 | 8 => Some(Self::Cds),
            4 => Some(Self::BseCm),
            5 => Some(Self::BseFo),
            7 => Some(Self::Mcx),
            _ => None,
        }
    }
}

impl core::fmt::Display for Segment {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_on_the_wire_and_in_text() {
        for segment in Segment::ALL {
            assert_eq!(Segment::parse(segment.as_str()), Some(segment));
            let json = serde_json::to_value(segment).unwrap();
            assert_eq!(json, segment.as_str());
        }
        assert_eq!(Segment::parse(" NSE-FO "), Some(Segment::NseFo));
        assert_eq!(Segment::parse("nfo"), None);
    }

    #[test]
    fn each_segment_knows_its_place_in_all() {
        for (index, segment) in Segment::ALL.into_iter().enumerate() {
            assert_eq!(segment.index(), index);
        }
    }

    #[test]
    fn an_instruments_segment_is_the_low_byte_of_its_token() {
        assert_eq!(
            Segment::of_instrument(256_265),
            Some(Segment::NseCm),
            "NIFTY 50 (index)"
        );
        assert_eq!(
            Segment::of_instrument(738_561),
            Some(Segment::NseCm),
            "RELIANCE"
        );
        assert_eq!(Segment::of_instrument(12_345_602), Some(Segment::NseFo));
        assert_eq!(Segment::of_instrument(0x0300 | 3), Some(Segment::Cds));
        assert_eq!(Segment::of_instrument(0x0400 | 4), Some(Segment::BseCm));
        assert_eq!(Segment::of_instrument(0x0500 | 5), Some(Segment::BseFo));
        assert_eq!(Segment::of_instrument(0x0600 | 6), Some(Segment::Cds));
        assert_eq!(Segment::of_instrument(0x0700 | 7), Some(Segment::Mcx));
        assert_eq!(Segment::of_instrument(0x0800 | 8), Some(Segment::Cds));
        assert_eq!(Segment::of_instrument(0x0a00 | 10), None);
    }
}
