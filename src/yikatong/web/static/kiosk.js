// Kiosk camera scanning where the browser can read QR codes itself (BarcodeDetector); a USB
// scanner needs none of this: it types the code into the focused field and presses Enter.
(function () {
  const button = document.getElementById("camera");
  const video = document.getElementById("preview");
  const form = document.getElementById("scan");
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  button.hidden = false;
  button.addEventListener("click", async function () {
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" } });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const look = async function () {
      const found = await detector.detect(video);
      if (found.length > 0) {
        stream.getTracks().forEach(function (track) { track.stop(); });
        video.hidden = true;
        form.code.value = found[0].rawValue;
        form.requestSubmit();
        return;
      }
      requestAnimationFrame(look);
    };
    look();
  });
})();
