#!/usr/bin/env python3
"""Count the pixels of MangoHud's HUD text in a screenshot (xwd -root).

    hud_pixels.py FILE.xwd X Y W H

Prints two numbers for the rectangle: its near-white pixels (every
channel >= 160, within 48 of each other) and its lit ones (a channel
above 40). MangoHud's text is white and glxgears' gears red, green and
blue on black: a visible HUD over glxgears shows white pixels, a hidden
one none, and the lit count shows the game drew at all. An unreadable
file is an error.
"""
import struct
import sys


def main() -> int:
    path, x0, y0, w, h = sys.argv[1], *map(int, sys.argv[2:6])
    data = open(path, "rb").read()
    if len(data) < 100:
        sys.exit(f"{path}: {len(data)} bytes, not an xwd screenshot")
    head = struct.unpack(">25I", data[:100])
    size, version, width, height = head[0], head[1], head[4], head[5]
    byte_order, bpl, visual = head[7], head[12], head[13]
    masks, ncolors = head[14:17], head[19]
    # (Xvfb's 24-bit screen: 4 bytes a pixel, which xwd's header gives as
    # depth 24 and 24 bits per pixel; the line length tells.)
    step = bpl // width if width else 0
    # (TrueColor 4 or DirectColor 5: pixels are RGB by the masks; Xvfb's
    # root shows either.)
    if version != 7 or visual not in (4, 5) or step not in (3, 4):
        sys.exit(f"{path}: xwd version {version}, visual class {visual}, {step} bytes a pixel: not an RGB screenshot")
    pixels = data[size + 12 * ncolors:]
    order = "little" if byte_order == 0 else "big"

    def channel(p: int, mask: int) -> int:
        shift = (mask & -mask).bit_length() - 1
        return (p & mask) >> shift

    white = lit = 0
    for y in range(y0, min(y0 + h, height)):
        row = pixels[y * bpl:(y + 1) * bpl]
        for x in range(x0, min(x0 + w, width)):
            p = int.from_bytes(row[x * step:(x + 1) * step], order)
            rgb = [channel(p, m) for m in masks]
            if min(rgb) >= 160 and max(rgb) - min(rgb) <= 48:
                white += 1
            if max(rgb) > 40:
                lit += 1
    print(white, lit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
