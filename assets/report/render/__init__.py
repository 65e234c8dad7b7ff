"""Rendering the benchmark report: Markdown, self-contained HTML with inline SVG plots, and the headless
Chromium that screenshots it."""
