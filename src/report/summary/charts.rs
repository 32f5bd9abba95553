//! Bar charts as SVG, drawn with plotters' SVG backend (plotters escapes the text it draws).
//!
//! One chart type serves every section: bars per category, optionally stacked by series, as
//! columns (time runs left to right) or rows (long labels such as namespaces). Nothing relies on
//! colour alone: each series has its own fill pattern, shown in a legend; every bar carries its
//! value; marked bars (over the licence) carry a word; and the page shows the same numbers in a
//! table under each chart.

use super::{SummaryError, group_digits};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A chart ready for the page: the template wraps `svg` in an element titled `title`.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Unique on the page; used for the title's id.
    pub id: String,
    pub title: String,
    pub width: u32,
    pub height: u32,
    /// The plotters drawing (`<svg>` element); its text is escaped by plotters.
    pub svg: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Categories along the bottom: months, days.
    Columns,
    /// Categories down the left side: names and reasons.
    Rows,
}

/// One stacked part of every bar.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// One value per category.
    pub values: Vec<u64>,
}

/// A horizontal (columns) or vertical (rows) line across the chart at `value`, e.g. the licence.
#[derive(Debug, Clone)]
pub struct Reference {
    pub value: u64,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct BarChart {
    pub id: String,
    pub title: String,
    pub orientation: Orientation,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    pub reference: Option<Reference>,
    /// Categories to call out (same length as `categories`, or empty for none).
    pub marked: Vec<bool>,
    /// The word written on a marked bar, e.g. `over`.
    pub mark_word: String,
}

const FONT: &str = "sans-serif";
const FONT_SIZE: u32 = 12;
/// plotters' estimate of a character's width at [`FONT_SIZE`] without a font file (0.7 em).
const CHAR_WIDTH: u32 = 6;
const LONGEST_LABEL: usize = 30;
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const MARK: RGBColor = RGBColor(0xb0, 0x00, 0x20);
/// Fills by series, from dark to light so they differ in greyscale too; patterns on top.
const FILLS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x4e, 0x79),
    RGBColor(0x9d, 0xc3, 0xe6),
    RGBColor(0xff, 0xff, 0xff),
    RGBColor(0x5b, 0x9b, 0xd5),
    RGBColor(0xd9, 0xd9, 0xd9),
    RGBColor(0x40, 0x40, 0x40),
];

/// What is drawn over a series' fill, so series are told apart without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Solid,
    HorizontalStripes,
    VerticalStripes,
    Crosshatch,
}

fn pattern_of(series: usize) -> Pattern {
    match series % 4 {
        0 => Pattern::Solid,
        1 => Pattern::HorizontalStripes,
        2 => Pattern::VerticalStripes,
        _ => Pattern::Crosshatch,
    }
}

/// Pixel box of a drawn bar part: left, top, right, bottom.
type PixelBox = (i32, i32, i32, i32);

impl BarChart {
    pub fn draw(&self) -> Result<Chart, SummaryError> {
        let layout = Layout::of(self);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (layout.width, layout.height))
                .into_drawing_area();
            self.paint(&root, &layout)
                .map_err(|e| SummaryError::Chart {
                    chart: self.title.clone(),
                    message: e.to_string(),
                })?;
            root.present().map_err(|e| SummaryError::Chart {
                chart: self.title.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(Chart {
            id: self.id.clone(),
            title: self.title.clone(),
            width: layout.width,
            height: layout.height,
            svg,
        })
    }

    fn totals(&self) -> Vec<u64> {
        (0..self.categories.len())
            .map(|i| {
                self.series
                    .iter()
                    .map(|s| s.values.get(i).copied().unwrap_or(0))
                    .sum()
            })
            .collect()
    }

    fn paint<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
        layout: &Layout,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let text = TextStyle::from((FONT, FONT_SIZE).into_font()).color(&INK);
        let totals = self.totals();
        let top_value = totals
            .iter()
            .copied()
            .chain(self.reference.as_ref().map(|r| r.value))
            .max()
            .unwrap_or(0)
            .max(1);
        let scale = Scale::new(top_value);
        let plot = layout.plot;
        let (left, top, right, bottom) = plot;
        let along = |value: u64| -> i32 {
            // Value axis position in pixels: up for columns, right for rows.
            let fraction = value as f64 / scale.max as f64;
            match self.orientation {
                Orientation::Columns => {
                    bottom - (fraction * f64::from(bottom - top)).round() as i32
                }
                Orientation::Rows => left + (fraction * f64::from(right - left)).round() as i32,
            }
        };

        // Grid and value axis labels.
        for tick in scale.ticks() {
            let at = along(tick);
            let label = group_digits(tick);
            match self.orientation {
                Orientation::Columns => {
                    root.draw(&PathElement::new(vec![(left, at), (right, at)], GRID))?;
                    root.draw(&Text::new(
                        label,
                        (left - 6, at),
                        text.pos(Pos::new(HPos::Right, VPos::Center)),
                    ))?;
                }
                Orientation::Rows => {
                    root.draw(&PathElement::new(vec![(at, top), (at, bottom)], GRID))?;
                    root.draw(&Text::new(
                        label,
                        (at, bottom + 6),
                        text.pos(Pos::new(HPos::Center, VPos::Top)),
                    ))?;
                }
            }
        }

        // Bars, stacked by series, each with its pattern and its total at the end.
        let count = self.categories.len().max(1) as i32;
        let band = match self.orientation {
            Orientation::Columns => (right - left) / count,
            Orientation::Rows => (bottom - top) / count,
        };
        let gap = (band / 5).max(2);
        for (index, category) in self.categories.iter().enumerate() {
            let start = match self.orientation {
                Orientation::Columns => left + index as i32 * band + gap / 2,
                Orientation::Rows => top + index as i32 * band + gap / 2,
            };
            let end = start + band - gap;
            let mut base = 0u64;
            for (series_index, series) in self.series.iter().enumerate() {
                let value = series.values.get(index).copied().unwrap_or(0);
                if value == 0 {
                    continue;
                }
                let part = match self.orientation {
                    Orientation::Columns => (start, along(base + value), end, along(base)),
                    Orientation::Rows => (along(base), start, along(base + value), end),
                };
                fill_part(root, part, series_index)?;
                base += value;
            }
            let marked = self.marked.get(index).copied().unwrap_or(false);
            let mut value_label = group_digits(totals[index]);
            if marked {
                value_label = format!("{value_label} {}", self.mark_word);
            }
            let value_style = if marked {
                TextStyle::from((FONT, FONT_SIZE).into_font().style(FontStyle::Bold)).color(&MARK)
            } else {
                text.clone()
            };
            let middle = (start + end) / 2;
            let shown = shorten(category);
            match self.orientation {
                Orientation::Columns => {
                    let at = along(totals[index]);
                    // Narrow columns: the value reads upwards above the bar.
                    if layout.rotate_labels {
                        root.draw(&Text::new(
                            value_label,
                            (middle, at - 4),
                            value_style
                                .transform(FontTransform::Rotate270)
                                .pos(Pos::new(HPos::Left, VPos::Center)),
                        ))?;
                        root.draw(&Text::new(
                            shown,
                            (middle, bottom + 6),
                            text.transform(FontTransform::Rotate270)
                                .pos(Pos::new(HPos::Right, VPos::Center)),
                        ))?;
                    } else {
                        root.draw(&Text::new(
                            value_label,
                            (middle, at - 4),
                            value_style.pos(Pos::new(HPos::Center, VPos::Bottom)),
                        ))?;
                        root.draw(&Text::new(
                            shown,
                            (middle, bottom + 6),
                            text.pos(Pos::new(HPos::Center, VPos::Top)),
                        ))?;
                    }
                }
                Orientation::Rows => {
                    root.draw(&Text::new(
                        value_label,
                        (along(totals[index]) + 4, middle),
                        value_style.pos(Pos::new(HPos::Left, VPos::Center)),
                    ))?;
                    root.draw(&Text::new(
                        shown,
                        (left - 6, middle),
                        text.pos(Pos::new(HPos::Right, VPos::Center)),
                    ))?;
                }
            }
        }

        // Axis lines.
        root.draw(&PathElement::new(
            vec![(left, bottom), (right, bottom)],
            INK,
        ))?;
        root.draw(&PathElement::new(vec![(left, top), (left, bottom)], INK))?;

        // The reference line, dashed, with its label.
        if let Some(reference) = &self.reference {
            let at = along(reference.value);
            let style = ShapeStyle::from(&MARK).stroke_width(2);
            let label_style =
                TextStyle::from((FONT, FONT_SIZE).into_font().style(FontStyle::Bold)).color(&MARK);
            match self.orientation {
                Orientation::Columns => {
                    root.draw(&DashedPathElement::new(
                        vec![(left, at), (right, at)],
                        8,
                        5,
                        style,
                    ))?;
                    root.draw(&Text::new(
                        reference.label.clone(),
                        (right, at - 4),
                        label_style.pos(Pos::new(HPos::Right, VPos::Bottom)),
                    ))?;
                }
                Orientation::Rows => {
                    root.draw(&DashedPathElement::new(
                        vec![(at, top), (at, bottom)],
                        8,
                        5,
                        style,
                    ))?;
                    root.draw(&Text::new(
                        reference.label.clone(),
                        (at + 4, top - 4),
                        label_style.pos(Pos::new(HPos::Left, VPos::Bottom)),
                    ))?;
                }
            }
        }

        // Legend, when bars are stacked: a swatch in the series' pattern and its name.
        if self.series.len() > 1 {
            let mut x = left;
            for (series_index, series) in self.series.iter().enumerate() {
                fill_part(root, (x, 8, x + 14, 22), series_index)?;
                let name = shorten(&series.name);
                let width = name.chars().count() as i32 * CHAR_WIDTH as i32;
                root.draw(&Text::new(
                    name,
                    (x + 18, 15),
                    text.pos(Pos::new(HPos::Left, VPos::Center)),
                ))?;
                x += 18 + width + 16;
            }
        }
        Ok(())
    }
}

/// Fills one bar part with its series' fill and pattern, outlined so light fills stay visible.
fn fill_part<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    (left, top, right, bottom): PixelBox,
    series: usize,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let fill = FILLS[series % FILLS.len()];
    root.draw(&Rectangle::new(
        [(left, top), (right, bottom)],
        fill.filled(),
    ))?;
    let stripe = ShapeStyle::from(&INK).stroke_width(1);
    let pattern = pattern_of(series);
    if matches!(pattern, Pattern::HorizontalStripes | Pattern::Crosshatch) {
        let mut y = top + 3;
        while y < bottom {
            root.draw(&PathElement::new(vec![(left, y), (right, y)], stripe))?;
            y += 4;
        }
    }
    if matches!(pattern, Pattern::VerticalStripes | Pattern::Crosshatch) {
        let mut x = left + 3;
        while x < right {
            root.draw(&PathElement::new(vec![(x, top), (x, bottom)], stripe))?;
            x += 4;
        }
    }
    root.draw(&Rectangle::new([(left, top), (right, bottom)], INK))?;
    Ok(())
}

/// Labels longer than a chart can hold are cut with an ellipsis; the table shows them whole.
fn shorten(label: &str) -> String {
    if label.chars().count() <= LONGEST_LABEL {
        label.to_owned()
    } else {
        let mut cut: String = label.chars().take(LONGEST_LABEL - 1).collect();
        cut.push('…');
        cut
    }
}

/// Where things go, in pixels.
struct Layout {
    width: u32,
    height: u32,
    /// Left, top, right, bottom of the plotting area.
    plot: PixelBox,
    rotate_labels: bool,
}

impl Layout {
    fn of(chart: &BarChart) -> Self {
        let count = chart.categories.len().max(1) as u32;
        let longest = chart
            .categories
            .iter()
            .map(|c| shorten(c).chars().count() as u32)
            .max()
            .unwrap_or(1);
        let legend = if chart.series.len() > 1 { 28 } else { 0 };
        let value_room = 8 * CHAR_WIDTH + 12;
        match chart.orientation {
            Orientation::Columns => {
                let left = 64u32;
                let width = (left + count * 34 + 24).max(480);
                let band = (width - left - 24) / count;
                let rotate_labels = longest * CHAR_WIDTH + 6 > band;
                let label_room = if rotate_labels {
                    longest * CHAR_WIDTH + 12
                } else {
                    24
                };
                let top = 16 + legend + if rotate_labels { value_room } else { 20 };
                let height = top + 200 + label_room;
                Self {
                    width,
                    height,
                    plot: (
                        left as i32,
                        top as i32,
                        (width - 24) as i32,
                        (top + 200) as i32,
                    ),
                    rotate_labels,
                }
            }
            Orientation::Rows => {
                let band = 24u32;
                let left = longest * CHAR_WIDTH + 16;
                let top = 12 + legend + 8;
                let width = left + 360 + value_room;
                let height = top + count * band + 28;
                Self {
                    width,
                    height,
                    plot: (
                        left as i32,
                        top as i32,
                        (left + 360) as i32,
                        (top + count * band) as i32,
                    ),
                    rotate_labels: false,
                }
            }
        }
    }
}

/// The value axis: from 0 to a round maximum, with round ticks.
struct Scale {
    max: u64,
    step: u64,
}

impl Scale {
    fn new(top_value: u64) -> Self {
        // A step of 1, 2 or 5 times a power of ten, about five ticks up to the top value.
        let rough = (top_value as f64 / 5.0).max(1.0);
        let power = 10f64.powf(rough.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * power)
            .find(|s| *s >= rough)
            .unwrap_or(10.0 * power) as u64;
        let step = step.max(1);
        let max = top_value.div_ceil(step) * step + step / 2;
        Self { max, step }
    }

    fn ticks(&self) -> impl Iterator<Item = u64> + '_ {
        (0..).map(|i| i * self.step).take_while(|t| *t <= self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_steps_are_round_and_cover_the_top() {
        for (top, step) in [(1, 1), (7, 2), (412, 100), (500, 100), (62_000, 20_000)] {
            let scale = Scale::new(top);
            assert_eq!(scale.step, step, "top {top}");
            assert!(scale.max >= top, "top {top}");
        }
    }

    #[test]
    fn long_labels_are_cut() {
        assert_eq!(shorten("admin/"), "admin/");
        let long = "a".repeat(40);
        assert_eq!(shorten(&long).chars().count(), LONGEST_LABEL);
        assert!(shorten(&long).ends_with('…'));
    }
}
