//! Small helpers for building GStreamer elements.

use crate::error::EgressError;
use gstreamer as gst;
use gstreamer::prelude::*;

/// Creates `factory` named `name`; a missing plugin names itself.
pub(crate) fn make(factory: &str, name: &str) -> Result<gst::Element, EgressError> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|_| EgressError::MissingElement(factory.to_owned()))
}

/// Sets a property from its string form (enums, flags, numbers of any width).
pub(crate) fn set(element: &gst::Element, property: &str, value: &str) {
    element.set_property_from_str(property, value);
}

pub(crate) fn caps_filter(name: &str, caps: &str) -> Result<gst::Element, EgressError> {
    let caps: gst::Caps = caps
        .parse()
        .map_err(|_| EgressError::Pipeline(format!("bad caps {caps}")))?;
    let filter = make("capsfilter", name)?;
    filter.set_property("caps", &caps);
    Ok(filter)
}

/// Adds `chain` to `bin` and links it in order.
pub(crate) fn add_chain(
    bin: &impl IsA<gst::Bin>,
    chain: &[&gst::Element],
) -> Result<(), EgressError> {
    bin.add_many(chain.iter().copied())?;
    gst::Element::link_many(chain.iter().copied())?;
    Ok(())
}
