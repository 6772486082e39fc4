"""Screenshot of the comparison page of ``jpegtext serve`` after a real restoration.

Starts the service (default model) on a free loopback port, opens the page in headless
Chromium (selenium + Debian's chromium / chromium-driver), uploads a photo, waits for the
restoration, zooms in a little and saves the window::

    python examples/serve_screenshot.py ../shared/data/kodak/kodim23.png docs/images/serve_page.png
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from jpegtext.serve.launch import launch_server


def chrome(width: int, height: int):  # noqa: ANN201 - selenium is optional
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        options.binary_location = binary
    driver_path = shutil.which("chromedriver")
    service = Service(driver_path) if driver_path else Service()
    return webdriver.Chrome(options=options, service=service)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--quality", type=int, default=1)
    ap.add_argument("--size", default="1440x1000")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    extra = ["--model", args.model] if args.model else []
    with launch_server(extra) as server:
        driver = chrome(width, height)
        try:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import WebDriverWait

            driver.get(server.url)
            wait = WebDriverWait(driver, 120)
            if args.quality != 1:
                driver.execute_script(
                    "const q=document.getElementById('qf'); q.value=arguments[0];"
                    "q.dispatchEvent(new Event('input'));", args.quality)
            driver.find_element(By.ID, "file").send_keys(str(args.photo.resolve()))
            wait.until(lambda d: d.find_element(By.ID, "restored").get_attribute("data-seq"))
            driver.execute_script(
                "const d=document.getElementById('divider'); d.value=45;"
                "d.dispatchEvent(new Event('input'));")
            time.sleep(0.5)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
