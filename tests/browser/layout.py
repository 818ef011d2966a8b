"""Screen sizes the page must work at, and a probe for what goes wrong on small screens: the page
wider than the screen, a control off screen, two controls on top of each other, a control under
something else (a tap at its centre would press that instead), a button whose label is cut."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.browser.support import screenshot

# Name: viewport. The names go into test ids and screenshot file names.
SIZES: dict[str, dict[str, int]] = {
    "phone-360x640": {"width": 360, "height": 640},  # the most common Android size
    "phone-320x568": {"width": 320, "height": 568},  # the smallest phones still in use
    "landscape-667x375": {"width": 667, "height": 375},  # a phone held sideways
    "keyboard-390x460": {"width": 390, "height": 460},  # a phone with the keyboard up
    "tablet-768x1024": {"width": 768, "height": 1024},  # a tablet held upright
    "desktop-1280x800": {"width": 1280, "height": 800},
}

LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const root = document.documentElement;
  const vw = root.clientWidth;
  const vh = root.clientHeight;
  if (root.scrollWidth > vw) problems.push(`the page is ${root.scrollWidth}px wide on a ${vw}px screen`);
  if (root.scrollHeight > vh) problems.push(`the page is ${root.scrollHeight}px tall on a ${vh}px screen`);

  const name = (el) => {
    if (!el) return 'nothing';
    if (el.id) return `#${el.id}`;
    const label = el.getAttribute('aria-label') || el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 30);
    return `${el.tagName.toLowerCase()}${el.className ? '.' + String(el.className).split(' ')[0] : ''} "${label}"`;
  };
  const shown = (el) => {
    if (el.closest('.visually-hidden')) return false;
    if (el.classList.contains('skip-link') && document.activeElement !== el) return false;
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return false;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  // With a modal dialog open, the rest of the page is inert: only the dialog's controls count.
  const scope = document.querySelector('dialog[open]') ?? document;
  const selector = 'button, input, select, textarea, a[href], [tabindex]:not([tabindex="-1"])';
  const controls = [...scope.querySelectorAll(selector)].filter(shown);

  for (const el of controls) {
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.top < -0.5 || r.right > vw + 0.5 || r.bottom > vh + 0.5) {
      problems.push(`${name(el)} is not inside the screen: ${Math.round(r.left)},${Math.round(r.top)} to `
        + `${Math.round(r.right)},${Math.round(r.bottom)}`);
      continue;
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(hit === el || el.contains(hit))) problems.push(`a tap on ${name(el)} lands on ${name(hit)}`);
    if (el.tagName === 'BUTTON' && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${name(el)} is cut: its label needs ${el.scrollWidth}px of ${el.clientWidth}px`);
    }
  }
  for (let i = 0; i < controls.length; i++) {
    for (let j = i + 1; j < controls.length; j++) {
      const [a, b] = [controls[i], controls[j]];
      if (a.contains(b) || b.contains(a)) continue;
      const ra = a.getBoundingClientRect();
      const rb = b.getBoundingClientRect();
      const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
      const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
      if (w > 0.5 && h > 0.5) problems.push(`${name(a)} and ${name(b)} overlap by ${Math.round(w)}x${Math.round(h)}px`);
    }
  }
  return problems;
}"""

VISIBLE_CONTROLS = """() => [...(document.querySelector('dialog[open]') ?? document)
  .querySelectorAll('button, input, select, a[href], [tabindex]:not([tabindex="-1"])')]
  .filter((el) => el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })
    && !el.closest('.visually-hidden') && !el.classList.contains('skip-link'))
  .map((el) => el.id || el.getAttribute('aria-label') || el.textContent.trim())"""


def layout_problems(page: Page) -> list[str]:
    return page.evaluate(LAYOUT_PROBLEMS)


def visible_controls(page: Page) -> list[str]:
    return page.evaluate(VISIBLE_CONTROLS)


def check_layout(page: Page, size: str, state: str, **expected: Any) -> None:
    """Screenshot the page as ``{size}-{state}.png`` and fail on any layout problem."""
    page.wait_for_timeout(350)  # transitions (the video fading in or out) settle
    screenshot(page, f"layout/{size}-{state}.png")
    problems = layout_problems(page)
    assert not problems, f"{size}, {state}:\n  " + "\n  ".join(problems)
