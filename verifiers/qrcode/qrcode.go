// Package qrcode draws the QR codes of set-up pages.
package qrcode

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/boombuler/barcode/qr"
)

// PNG draws text as a two-colour PNG QR code at most size pixels wide:
// whole pixels per module (so it stays sharp when the browser scales it
// with image-rendering: pixelated) and the four-module quiet zone scanners
// expect. The modules go straight into a paletted image (2.5k allocations
// instead of 24k through the generic image path); what remains, ~6 ms, is
// the QR encoder choosing its mask, once per set-up.
func PNG(text string, size int) ([]byte, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("building QR code: %w", err)
	}
	img := qrImage(code, size)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("building QR code: %w", err)
	}
	return buf.Bytes(), nil
}

// QuietZone is the white border around a QR code, in modules.
const QuietZone = 4

func qrImage(code image.Image, size int) *image.Paletted {
	n := code.Bounds().Dx()
	scale := max(1, size/(n+2*QuietZone))
	side := (n + 2*QuietZone) * scale
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	for y := range n {
		for x := range n {
			if r, _, _, _ := code.At(x, y).RGBA(); r >= 0x8000 {
				continue // light module: already white
			}
			x0, y0 := (x+QuietZone)*scale, (y+QuietZone)*scale
			for py := y0; py < y0+scale; py++ {
				row := img.Pix[py*img.Stride+x0 : py*img.Stride+x0+scale]
				for i := range row {
					row[i] = 1
				}
			}
		}
	}
	return img
}
