// outline.js — segment outlines drawn over an image: an SVG laid over the <img> with
// a 0..1 x 0..1 viewBox, one <rect> per box segment and one <path> per mask segment
// (Instances' thumbnails, Try an image's picture).
//
//   maskPath(mask)               the outline path of a mask {h, w, bits}
//   drawOutlines(svg, shapes)    shapes: [{box?: [x0, y0, x1, y1], mask?, key?, cls?}]
//                                (0..1 coordinates); cls is added to the shape's class

// The cell edges between a set cell and an unset one (or the border), in 0..1.
export function maskPath(mask) {
  const { h, w, bits } = mask;
  const on = (y, x) => y >= 0 && x >= 0 && y < h && x < w && bits[y * w + x] === '1';
  const sx = 1 / w, sy = 1 / h, f = (v) => +v.toFixed(4);
  let p = '';
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!on(y, x)) continue;
      if (!on(y - 1, x)) p += `M${f(x * sx)} ${f(y * sy)}H${f((x + 1) * sx)}`;
      if (!on(y + 1, x)) p += `M${f(x * sx)} ${f((y + 1) * sy)}H${f((x + 1) * sx)}`;
      if (!on(y, x - 1)) p += `M${f(x * sx)} ${f(y * sy)}V${f((y + 1) * sy)}`;
      if (!on(y, x + 1)) p += `M${f((x + 1) * sx)} ${f(y * sy)}V${f((y + 1) * sy)}`;
    }
  }
  return p;
}

export function drawOutlines(svg, shapes) {
  const cls = (base) => (x) => (x.cls ? `${base} ${x.cls}` : base);
  svg.selectAll('rect').data(shapes.filter((x) => x.box), (x, i) => x.key ?? i).join('rect')
    .attr('class', cls('outline-box'))
    .attr('x', (x) => x.box[0]).attr('y', (x) => x.box[1])
    .attr('width', (x) => Math.max(0, x.box[2] - x.box[0])).attr('height', (x) => Math.max(0, x.box[3] - x.box[1]));
  svg.selectAll('path').data(shapes.filter((x) => x.mask), (x, i) => x.key ?? i).join('path')
    .attr('class', cls('outline-mask'))
    .attr('d', (x) => maskPath(x.mask));
  return svg;
}

