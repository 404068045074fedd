"""The terminal's camera pipeline for codes: frames in, validated payment codes out.

    source (camera.CameraSource | files.VideoFileSource | files.ImageFolderSource)
      -> pump.FramePump (own threads; newest frame only)
      -> scanner.CodeScanner (decoders.make(): zxing-cpp by default; codes.classify)
      -> Scan(Code | Refused), each code once while it stays in view

Frames are BGR (`frames.Frame`). `codes` is pure and also what any other input path (a
keyed-in code, a USB scanner) should validate with. `degrade`, `payloads` and `symbols` draw
the generated degraded frame set that `bench/qr.py` and the tests use to compare decoders
(`compare`); they need `qrcode`, which the terminal itself does not.
"""
