-- Each image-text sample's caption made from its own text (native_text_captions), with its origin, or
-- the reason its text gave none. Filled by insert_text_captions where that table is given; empty
-- otherwise (an image-text sample then has no caption: no_text_caption).
CREATE OR REPLACE TEMP TABLE text_captions (sample_id VARCHAR, caption VARCHAR, origin VARCHAR, reason VARCHAR);
