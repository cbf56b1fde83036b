"""Which extension Telegram Desktop gives a document that arrives without a file name.

``ComputeDocumentName`` (tdesktop export_data_types.cpp 550-587) asks Qt's MIME database for
the type's *first* glob pattern and deletes its ``*``: ``video/quicktime`` -> ``.qt``, not
Python's ``.mov``; ``audio/ogg`` -> ``.oga``. Qt reads the system's shared-mime-info (or its
own copy of it), so the answer cannot come from Python's ``mimetypes``: ``GLOBS`` below is the
first glob of every type and alias in shared-mime-info 2.2's freedesktop.org.xml, rebuilt by
``python -m engine.media.mimes /usr/share/mime/packages/freedesktop.org.xml`` (and checked
against the system's copy by tests/test_media_names.py). Telegram Desktop's own overrides
(core/mime_type.cpp ``MimeTypeForName``) come first: its sticker and theme types are not in
shared-mime-info. See ../shared/MEDIA_NOTES.md 3.2 and docs/media.md.
"""

from __future__ import annotations

import sys
import textwrap
import xml.etree.ElementTree as ET
from functools import cache

# core/mime_type.cpp: types Telegram Desktop answers itself, before Qt is asked
_TDESKTOP = {
    "image/webp": "*.webp",
    "application/x-tgsticker": "*.tgs",
    "application/x-tgwallpattern": "*.tgv",
    "application/x-tdesktop-theme": "*.tdesktop-theme",
    "application/x-tgtheme-tdesktop": "*.tdesktop-theme",
    "application/x-tdesktop-palette": "*.tdesktop-palette",
    "audio/mpeg3": "*.mp3",             # looked up as audio/mp3, an alias of audio/mpeg
}

# top-level type -> "subtype=first-glob ..." (shared-mime-info 2.2; aliases included)
GLOBS = {
    "application": """
        acrobat=*.pdf andrew-inset=*.ez annodex=*.anx atom+xml=*.atom bzip2=*.bz2 cdr=*.cdr
        coreldraw=*.cdr dbase=*.dbf dbf=*.dbf dicom=dicomdir docbook+xml=*.dbk ecmascript=*.es
        emf=*.emf epub+zip=*.epub fits=*.fits font-woff=*.woff futuresplash=*.swf
        geo+json=*.geojson gml+xml=*.gml gnunet-directory=*.gnd gpx=*.gpx gpx+xml=*.gpx gzip=*.gz
        ico=*.ico ics=*.vcs illustrator=*.ai java=*.class java-archive=*.jar java-byte-code=*.class
        java-vm=*.class javascript=*.js jrd+json=*.jrd json=*.json json-patch+json=*.json-patch
        ld+json=*.jsonld lotus123=*.123 m3u=*.m3u mathematica=*.nb mathml+xml=*.mml mbox=*.mbox
        mdb=*.mdb metalink+xml=*.metalink metalink4+xml=*.meta4 ms-tnef=*.tnef msaccess=*.mdb
        msexcel=*.xls mspowerpoint=*.ppz msword=*.doc msword-template=*.dot mxf=*.mxf nappdf=*.pdf
        oda=*.oda ogg=*.ogx ovf=*.ova owl+xml=*.owx oxps=*.oxps pcap=*.pcap pdf=*.pdf pgp=*.pgp
        pgp-encrypted=*.pgp pgp-keys=*.skr pgp-signature=*.asc photoshop=*.psd pkcs10=*.p10
        pkcs12=*.p12 pkcs7-mime=*.p7c pkcs7-signature=*.p7s pkcs8=*.p8 pkcs8-encrypted=*.p8e
        pkix-cert=*.cer pkix-crl=*.crl pkix-pkipath=*.pkipath pls=*.pls postscript=*.ps
        powerpoint=*.ppz ram=*.ram raml+yaml=*.raml rdf+xml=*.rdf relax-ng-compact-syntax=*.rnc
        rss+xml=*.rss rtf=*.rtf schema+json=*.json sdp=*.sdp sieve=*.siv smil=*.smil
        smil+xml=*.smil sparql-query=*.qs sparql-results+xml=*.srx sql=*.sql stuffit=*.sit
        tga=*.tga toml=*.toml trig=*.trig vnd.adobe.flash.movie=*.swf vnd.adobe.illustrator=*.ai
        vnd.amazon.mobi8-ebook=*.azw3 vnd.android.package-archive=*.apk vnd.appimage=*.appimage
        vnd.apple.keynote=*.key vnd.apple.mpegurl=*.m3u vnd.apple.numbers=*.numbers
        vnd.apple.pages=*.pages vnd.apple.pkpass=*.pkpass vnd.chess-pgn=*.pgn
        vnd.coffeescript=*.coffee vnd.comicbook+zip=*.cbz vnd.comicbook-rar=*.cbr
        vnd.corel-draw=*.cdr vnd.debian.binary-package=*.deb vnd.emusic-emusic_package=*.emp
        vnd.flatpak=*.flatpak vnd.flatpak.ref=*.flatpakref vnd.flatpak.repo=*.flatpakrepo
        vnd.framemaker=*.fm vnd.geo+json=*.geojson vnd.google-earth.kml+xml=*.kml
        vnd.google-earth.kmz=*.kmz vnd.haansoft-hwp=*.hwp vnd.haansoft-hwt=*.hwt vnd.hp-hpgl=*.hpgl
        vnd.hp-pcl=*.pcl vnd.iccprofile=*.icc vnd.lotus-1-2-3=*.123 vnd.lotus-wordpro=*.lwp
        vnd.mozilla.xul+xml=*.xul vnd.ms-3mfdocument=*.3mf vnd.ms-access=*.mdb vnd.ms-asf=*.asf
        vnd.ms-cab-compressed=*.cab vnd.ms-excel=*.xls vnd.ms-excel.addin.macroenabled.12=*.xlam
        vnd.ms-excel.sheet.binary.macroenabled.12=*.xlsb vnd.ms-excel.sheet.macroenabled.12=*.xlsm
        vnd.ms-excel.template.macroenabled.12=*.xltm vnd.ms-htmlhelp=*.chm vnd.ms-powerpoint=*.ppz
        vnd.ms-powerpoint.addin.macroenabled.12=*.ppam
        vnd.ms-powerpoint.presentation.macroenabled.12=*.pptm
        vnd.ms-powerpoint.slide.macroenabled.12=*.sldm
        vnd.ms-powerpoint.slideshow.macroenabled.12=*.ppsm
        vnd.ms-powerpoint.template.macroenabled.12=*.potm vnd.ms-publisher=*.pub vnd.ms-tnef=*.tnef
        vnd.ms-visio.drawing.macroenabled.main+xml=*.vsdm vnd.ms-visio.drawing.main+xml=*.vsdx
        vnd.ms-visio.stencil.macroenabled.main+xml=*.vssm vnd.ms-visio.stencil.main+xml=*.vssx
        vnd.ms-visio.template.macroenabled.main+xml=*.vstm vnd.ms-visio.template.main+xml=*.vstx
        vnd.ms-word=*.doc vnd.ms-word.document.macroenabled.12=*.docm
        vnd.ms-word.template.macroenabled.12=*.dotm vnd.ms-works=*.wcm vnd.ms-wpl=*.wpl
        vnd.ms-xpsdocument=*.xps vnd.msaccess=*.mdb vnd.nintendo.snes.rom=*.sfc
        vnd.oasis.docbook+xml=*.dbk vnd.oasis.opendocument.chart=*.odc
        vnd.oasis.opendocument.chart-template=*.otc vnd.oasis.opendocument.database=*.odb
        vnd.oasis.opendocument.formula=*.odf vnd.oasis.opendocument.formula-template=*.otf
        vnd.oasis.opendocument.graphics=*.odg vnd.oasis.opendocument.graphics-flat-xml=*.fodg
        vnd.oasis.opendocument.graphics-template=*.otg vnd.oasis.opendocument.image=*.odi
        vnd.oasis.opendocument.presentation=*.odp
        vnd.oasis.opendocument.presentation-flat-xml=*.fodp
        vnd.oasis.opendocument.presentation-template=*.otp vnd.oasis.opendocument.spreadsheet=*.ods
        vnd.oasis.opendocument.spreadsheet-flat-xml=*.fods
        vnd.oasis.opendocument.spreadsheet-template=*.ots vnd.oasis.opendocument.text=*.odt
        vnd.oasis.opendocument.text-flat-xml=*.fodt vnd.oasis.opendocument.text-master=*.odm
        vnd.oasis.opendocument.text-template=*.ott vnd.oasis.opendocument.text-web=*.oth
        vnd.openofficeorg.extension=*.oxt
        vnd.openxmlformats-officedocument.presentationml.presentation=*.pptx
        vnd.openxmlformats-officedocument.presentationml.slide=*.sldx
        vnd.openxmlformats-officedocument.presentationml.slideshow=*.ppsx
        vnd.openxmlformats-officedocument.presentationml.template=*.potx
        vnd.openxmlformats-officedocument.spreadsheetml.sheet=*.xlsx
        vnd.openxmlformats-officedocument.spreadsheetml.template=*.xltx
        vnd.openxmlformats-officedocument.wordprocessingml.document=*.docx
        vnd.openxmlformats-officedocument.wordprocessingml.template=*.dotx vnd.palm=*.prc
        vnd.rar=*.rar vnd.rn-realmedia=*.rm vnd.rn-realmedia-vbr=*.rm vnd.sdp=*.sdp vnd.smaf=*.mmf
        vnd.snap=*.snap vnd.sqlite3=*.sqlite3 vnd.squashfs=*.sqsh vnd.stardivision.calc=*.sdc
        vnd.stardivision.chart=*.sds vnd.stardivision.draw=*.sda vnd.stardivision.impress=*.sdd
        vnd.stardivision.mail=*.smd vnd.stardivision.math=*.smf vnd.stardivision.writer=*.sdw
        vnd.stardivision.writer-global=*.sdw vnd.sun.xml.base=*.odb vnd.sun.xml.calc=*.sxc
        vnd.sun.xml.calc.template=*.stc vnd.sun.xml.draw=*.sxd vnd.sun.xml.draw.template=*.std
        vnd.sun.xml.impress=*.sxi vnd.sun.xml.impress.template=*.sti vnd.sun.xml.math=*.sxm
        vnd.sun.xml.writer=*.sxw vnd.sun.xml.writer.global=*.sxg vnd.sun.xml.writer.template=*.stw
        vnd.symbian.install=*.sis vnd.tcpdump.pcap=*.pcap vnd.visio=*.vsd vnd.wordperfect=*.wp
        vnd.xdgapp=*.flatpak vnd.youtube.yt=*.yt winhlp=*.hlp wk1=*.123 wmf=*.wmf wordperfect=*.wp
        wwf=*.wwf x-123=*.123 x-7z-compressed=*.7z x-abiword=*.abw x-ace=*.ace x-alz=*.alz
        x-amiga-disk-format=*.adf x-amipro=*.sam x-annodex=*.anx x-aportisdoc=*.pdb
        x-apple-diskimage=*.dmg x-apple-systemprofiler+xml=*.spx x-appleworks-document=*.cwk
        x-applix-spreadsheet=*.as x-applix-word=*.aw x-archive=*.a x-arj=*.arj x-asar=*.asar
        x-asp=*.asp x-atari-2600-rom=*.a26 x-atari-7800-rom=*.a78 x-atari-lynx-rom=*.lnx
        x-awk=*.awk x-bcpio=*.bcpio x-bittorrent=*.torrent x-blender=*.blend x-bps-patch=*.bps
        x-bsdiff=*.bsdiff x-bzdvi=*.dvi.bz2 x-bzip=*.bz2 x-bzip-compressed-tar=*.tar.bz2
        x-bzip2=*.bz2 x-bzpdf=*.pdf.bz2 x-bzpostscript=*.ps.bz2 x-cb7=*.cb7 x-cbr=*.cbr x-cbt=*.cbt
        x-cbz=*.cbz x-ccmx=*.ccmx x-cd-image=*.iso x-cdr=*.cdr x-cdrdao-toc=*.toc x-chess-pgn=*.pgn
        x-chm=*.chm x-cisco-vpn-settings=*.pcf x-compress=*.Z x-compressed-iso=*.cso
        x-compressed-tar=*.tar.gz x-core=core x-coreldraw=*.cdr x-cpio=*.cpio
        x-cpio-compressed=*.cpio.gz x-csh=*.csh x-cue=*.cue x-dar=*.dar x-dbase=*.dbf x-dbf=*.dbf
        x-deb=*.deb x-debian-package=*.deb x-designer=*.ui x-desktop=*.desktop x-dia-diagram=*.dia
        x-dia-shape=*.shape x-discjuggler-cd-image=*.cdi x-docbook+xml=*.dbk x-doom-wad=*.wad
        x-dreamcast-rom=*.iso x-dvi=*.dvi x-e-theme=*.etheme x-egon=*.egon x-emf=*.emf
        x-fd-file=*.fd x-fds-disk=*.fds x-fictionbook=*.fb2 x-fictionbook+xml=*.fb2
        x-flash-video=*.flv x-fluid=*.fl x-font-afm=*.afm x-font-bdf=*.bdf x-font-linux-psf=*.psf
        x-font-otf=*.otf x-font-pcf=*.pcf x-font-speedo=*.spd x-font-ttf=*.ttf x-font-ttx=*.ttx
        x-font-type1=*.pfa x-frame=*.fm x-gameboy-color-rom=*.gbc x-gameboy-rom=*.gb
        x-gamecube-iso-image=*.iso x-gamecube-rom=*.iso x-gamegear-rom=*.gg x-gba-rom=*.gba
        x-gd-rom-cue=*.gdi x-gdscript=*.gd x-gedcom=*.ged x-genesis-32x-rom=*.32x
        x-genesis-rom=*.gen x-gettext=*.po x-gettext-translation=*.gmo x-glade=*.glade
        x-gnome-app-info=*.desktop x-gnucash=*.gnucash x-gnumeric=*.gnumeric x-gnuplot=*.gp
        x-go-sgf=*.sgf x-godot-project=project.godot x-godot-resource=*.res x-godot-scene=*.scn
        x-godot-shader=*.gdshader x-gpx=*.gpx x-gpx+xml=*.gpx x-graphite=*.gra x-gtar=*.tar
        x-gtk-builder=*.ui x-gz-font-linux-psf=*.psf.gz x-gzdvi=*.dvi.gz x-gzip=*.gz
        x-gzpdf=*.pdf.gz x-gzpostscript=*.ps.gz x-hdf=*.hdf x-hfe-file=*.hfe
        x-hfe-floppy-image=*.hfe x-hwp=*.hwp x-hwt=*.hwt x-ica=*.ica x-ips-patch=*.ips
        x-ipynb+json=*.ipynb x-iso9660-appimage=*.appimage x-iso9660-image=*.iso x-it87=*.it87
        x-iwork-keynote-sffkey=*.key x-iwork-numbers-sffnumbers=*.numbers
        x-iwork-pages-sffpages=*.pages x-jar=*.jar x-java=*.class x-java-archive=*.jar
        x-java-class=*.class x-java-jce-keystore=*.jceks x-java-jnlp-file=*.jnlp
        x-java-keystore=*.jks x-java-pack200=*.pack x-java-vm=*.class x-javascript=*.js
        x-jbuilder-project=*.jpr x-karbon=*.karbon x-kchart=*.chrt x-kexi-connectiondata=*.kexic
        x-kexiproject-shortcut=*.kexis x-kexiproject-sqlite=*.kexi x-kexiproject-sqlite2=*.kexi
        x-kexiproject-sqlite3=*.kexi x-kformula=*.kfo x-killustrator=*.kil x-kivio=*.flw
        x-kontour=*.kon x-kpovmodeler=*.kpm x-kpresenter=*.kpr x-krita=*.kra x-kspread=*.ksp
        x-kugar=*.kud x-kword=*.kwd x-lha=*.lha x-lhz=*.lhz x-linguist=*.ts x-lotus123=*.123
        x-lrzip=*.lrz x-lrzip-compressed-tar=*.tar.lrz x-lyx=*.lyx x-lz4=*.lz4
        x-lz4-compressed-tar=*.tar.lz4 x-lzh-compressed=*.lha x-lzip=*.lz
        x-lzip-compressed-tar=*.tar.lz x-lzma=*.lzma x-lzma-compressed-tar=*.tar.lzma x-lzop=*.lzo
        x-lzpdf=*.pdf.lz x-m4=*.m4 x-magicpoint=*.mgp x-mame-chd=*.chd x-markaby=*.mab
        x-mathematica=*.nb x-mdb=*.mdb x-mif=*.mif x-mimearchive=*.mhtml x-mobi8-ebook=*.azw3
        x-mobipocket-ebook=*.mobi x-ms-asx=*.asx x-ms-dos-executable=*.exe x-ms-wim=*.wim
        x-msaccess=*.mdb x-msexcel=*.xls x-msi=*.msi x-msmetafile=*.wmf x-mspowerpoint=*.ppz
        x-mswinurl=*.url x-msword=*.doc x-mswrite=*.wri x-msx-rom=*.msx x-n64-rom=*.n64
        x-navi-animation=*.ani x-neo-geo-pocket-color-rom=*.ngc x-neo-geo-pocket-rom=*.ngp
        x-nes-rom=*.nes x-netcdf=*.cdf x-netshow-channel=*.nsc x-nintendo-3ds-executable=*.3dsx
        x-nintendo-3ds-rom=*.3ds x-nintendo-ds-rom=*.nds x-nzb=*.nzb x-object=*.o x-ogg=*.ogx
        x-oleo=*.oleo x-openzim=*.zim x-pagemaker=*.p65 x-pak=*.pak x-palm-database=*.prc
        x-par2=*.PAR2 x-partial-download=*.wkdownload x-pc-engine-rom=*.pce x-pcap=*.pcap
        x-pdf=*.pdf x-perl=*.pl x-photoshop=*.psd x-php=*.php x-pkcs12=*.p12
        x-pkcs7-certificates=*.p7b x-planperfect=*.pln x-pocket-word=*.psw x-profile=gmon.out
        x-pw=*.pw x-pyspread-bz-spreadsheet=*.pys x-pyspread-spreadsheet=*.pysu
        x-python-bytecode=*.pyc x-qed-disk=*.qed x-qemu-disk=*.qcow2 x-qpress=*.qp x-qtiplot=*.qti
        x-quattropro=*.wb1 x-quicktime-media-link=*.qtl x-quicktimeplayer=*.qtl x-qw=*.qif
        x-rar=*.rar x-rar-compressed=*.rar x-raw-disk-image=*.raw-disk-image
        x-raw-disk-image-xz-compressed=*.raw-disk-image.xz x-raw-floppy-disk-image=*.fd
        x-redhat-package-manager=*.rpm x-reject=*.rej x-rnc=*.rnc x-rpm=*.rpm x-ruby=*.rb
        x-sami=*.smi x-sap-file=*.sap x-saturn-rom=*.iso x-sdp=*.sdp x-sega-cd-rom=*.iso
        x-sega-pico-rom=*.iso x-sg1000-rom=*.sg x-shar=*.shar x-shared-library-la=*.la
        x-sharedlib=*.so x-shellscript=*.sh x-shockwave-flash=*.swf x-shorten=*.shn x-siag=*.siag
        x-sit=*.sit x-smaf=*.mmf x-sms-rom=*.sms x-snes-rom=*.sfc x-source-rpm=*.src.rpm
        x-spss-por=*.por x-spss-sav=*.sav x-spss-savefile=*.sav x-sqlite2=*.sqlite2
        x-sqlite3=*.sqlite3 x-srt=*.srt x-stuffit=*.sit x-subrip=*.srt x-sv4cpio=*.sv4cpio
        x-sv4crc=*.sv4crc x-t602=*.602 x-tar=*.tar x-targa=*.tga x-tarz=*.tar.Z x-tex=*.tex
        x-tex-gf=*.gf x-tex-pk=*.pk x-tga=*.tga x-tgif=*.obj x-theme=*.theme
        x-thomson-cartridge-memo7=*.m7 x-thomson-cassette=*.k7 x-thomson-sap-image=*.sap x-trash=*~
        x-trig=*.trig x-troff=*.tr x-troff-man=*.man x-tzo=*.tar.lzo x-ufraw=*.ufraw
        x-ustar=*.ustar x-vdi-disk=*.vdi x-vhd-disk=*.vhd x-vhdx-disk=*.vhdx x-virtual-boy-rom=*.vb
        x-virtualbox-ova=*.ova x-virtualbox-vdi=*.vdi x-virtualbox-vhd=*.vhd
        x-virtualbox-vhdx=*.vhdx x-virtualbox-vmdk=*.vmdk x-vmdk-disk=*.vmdk x-vnd.kde.kexi=*.kexi
        x-wais-source=*.src x-wbfs=*.iso x-wia=*.iso x-wii-iso-image=*.iso x-wii-rom=*.iso
        x-wii-wad=*.wad x-windows-themepack=*.themepack x-wmf=*.wmf x-wonderswan-color-rom=*.wsc
        x-wonderswan-rom=*.ws x-wordperfect=*.wp x-wpg=*.wpg x-wwf=*.wwf x-x509-ca-cert=*.der
        x-xar=*.xar x-xbel=*.xbel x-xliff=*.xlf x-xpinstall=*.xpi x-xspf+xml=*.xspf x-xz=*.xz
        x-xz-compressed-tar=*.tar.xz x-xzpdf=*.pdf.xz x-yaml=*.yaml x-zip=*.zip
        x-zip-compressed=*.zip x-zip-compressed-fb2=*.fb2.zip x-zoo=*.zoo
        x-zstd-compressed-tar=*.tar.zst xhtml+xml=*.xhtml xliff+xml=*.xlf xml=*.xml xml-dtd=*.dtd
        xml-external-parsed-entity=*.ent xps=*.xps xslt+xml=*.xsl xspf+xml=*.xspf zip=*.zip
        zlib=*.zz zstd=*.zst
    """,
    "audio": """
        3gpp=*.3gp 3gpp-encrypted=*.3gp 3gpp2=*.3g2 aac=*.aac ac3=*.ac3 amr=*.amr
        amr-encrypted=*.amr amr-wb=*.awb amr-wb-encrypted=*.awb annodex=*.axa basic=*.au dff=*.dff
        dsd=*.dsf dsf=*.dsf flac=*.flac imelody=*.imy m3u=*.m3u m4a=*.m4a midi=*.mid
        mobile-xmf=*.mxmf mp2=*.mp2 mp3=*.mp3 mp4=*.m4a mpeg=*.mp3 mpegurl=*.m3u ogg=*.oga
        prs.sid=*.sid scpls=*.pls tta=*.tta usac=*.loas vnd.audible=*.aa vnd.audible.aax=*.aax
        vnd.dts=*.dts vnd.dts.hd=*.dtshd vnd.m-realaudio=*.ra vnd.nokia.mobile-xmf=*.mxmf
        vnd.rn-realaudio=*.ra vnd.wave=*.wav vorbis=*.oga wav=*.wav wma=*.wma x-aac=*.aac
        x-aifc=*.aifc x-aiff=*.aiff x-aiffc=*.aifc x-amzxml=*.amz x-annodex=*.axa x-ape=*.ape
        x-dff=*.dff x-dsd=*.dsf x-dsf=*.dsf x-dts=*.dts x-dtshd=*.dtshd x-flac=*.flac
        x-flac+ogg=*.oga x-gsm=*.gsm x-imelody=*.imy x-iriver-pla=*.pla x-it=*.it x-m3u=*.m3u
        x-m4a=*.m4a x-m4b=*.m4b x-m4r=*.m4r x-matroska=*.mka x-midi=*.mid x-minipsf=*.minipsf
        x-mo3=*.mo3 x-mod=*.mod x-mp2=*.mp2 x-mp3=*.mp3 x-mp3-playlist=*.m3u x-mpeg=*.mp3
        x-mpegurl=*.m3u x-mpg=*.mp3 x-ms-asx=*.asx x-ms-wma=*.wma x-musepack=*.mpc x-ogg=*.oga
        x-oggflac=*.oga x-opus+ogg=*.opus x-pn-audibleaudio=*.aa x-pn-realaudio=*.ra x-psf=*.psf
        x-psflib=*.psflib x-rn-3gpp-amr=*.3gp x-rn-3gpp-amr-encrypted=*.3gp x-rn-3gpp-amr-wb=*.3gp
        x-rn-3gpp-amr-wb-encrypted=*.3gp x-s3m=*.s3m x-scpls=*.pls x-shorten=*.shn x-speex=*.spx
        x-speex+ogg=*.oga x-stm=*.stm x-tta=*.tta x-voc=*.voc x-vorbis=*.oga x-vorbis+ogg=*.oga
        x-wav=*.wav x-wavpack=*.wv x-wavpack-correction=*.wvc x-xi=*.xi x-xm=*.xm x-xmf=*.xmf
        xmf=*.xmf
    """,
    "flv-application": """
        octet-stream=*.flv
    """,
    "font": """
        collection=*.ttc otf=*.otf ttf=*.ttf woff=*.woff woff2=*.woff2
    """,
    "image": """
        astc=*.astc avif=*.avif avif-sequence=*.avif bmp=*.bmp cdr=*.cdr cgm=*.cgm emf=*.emf
        fax-g3=*.g3 fits=*.fits g3fax=*.g3 gif=*.gif heic=*.heic heic-sequence=*.heic heif=*.heic
        heif-sequence=*.heic ico=*.ico icon=*.ico ief=*.ief jp2=*.jp2 jpeg=*.jpg jpeg2000=*.jp2
        jpeg2000-image=*.jp2 jpm=*.jpm jpx=*.jpf jxl=*.jxl ktx=*.ktx ktx2=*.ktx2 openraster=*.ora
        pdf=*.pdf photoshop=*.psd pjpeg=*.jpg png=*.png psd=*.psd rle=*.rle svg+xml=*.svg
        svg+xml-compressed=*.svgz targa=*.tga tga=*.tga tiff=*.tif vnd.adobe.photoshop=*.psd
        vnd.djvu=*.djvu vnd.djvu+multipage=*.djvu vnd.dwg=*.dwg vnd.dxf=*.dxf
        vnd.microsoft.icon=*.ico vnd.ms-modi=*.mdi vnd.rn-realpix=*.rp vnd.wap.wbmp=*.wbmp
        vnd.zbrush.pcx=*.pcx webp=*.webp wmf=*.wmf x-3ds=*.3ds x-adobe-dng=*.dng
        x-applix-graphics=*.ag x-bmp=*.bmp x-bzeps=*.eps.bz2 x-canon-cr2=*.cr2 x-canon-cr3=*.cr3
        x-canon-crw=*.crw x-cdr=*.cdr x-cmu-raster=*.ras x-compressed-xcf=*.xcf.gz x-dds=*.dds
        x-djvu=*.djvu x-emf=*.emf x-eps=*.eps x-exr=*.exr x-fits=*.fits x-fuji-raf=*.raf
        x-gimp-gbr=*.gbr x-gimp-gih=*.gih x-gimp-pat=*.pat x-gzeps=*.eps.gz x-icb=*.tga
        x-icns=*.icns x-ico=*.ico x-icon=*.ico x-iff=*.iff x-ilbm=*.iff x-jng=*.jng
        x-jp2-codestream=*.j2c x-jpeg2000-image=*.jp2 x-kodak-dcr=*.dcr x-kodak-k25=*.k25
        x-kodak-kdc=*.kdc x-lwo=*.lwo x-lws=*.lws x-macpaint=*.pntg x-minolta-mrw=*.mrw
        x-ms-bmp=*.bmp x-msod=*.msod x-nikon-nef=*.nef x-nikon-nrw=*.nrw x-olympus-orf=*.orf
        x-panasonic-raw=*.raw x-panasonic-raw2=*.rw2 x-panasonic-rw=*.raw x-panasonic-rw2=*.rw2
        x-pcx=*.pcx x-pentax-pef=*.pef x-photo-cd=*.pcd x-photoshop=*.psd x-pict=*.pct
        x-portable-anymap=*.pnm x-portable-bitmap=*.pbm x-portable-graymap=*.pgm
        x-portable-pixmap=*.ppm x-psd=*.psd x-quicktime=*.qtif x-rgb=*.rgb x-sgi=*.sgi
        x-sigma-x3f=*.x3f x-skencil=*.sk x-sony-arw=*.arw x-sony-sr2=*.sr2 x-sony-srf=*.srf
        x-sun-raster=*.sun x-targa=*.tga x-tga=*.tga x-win-bitmap=*.cur x-win-metafile=*.wmf
        x-wmf=*.wmf x-xbitmap=*.xbm x-xcf=*.xcf x-xfig=*.fig x-xpixmap=*.xpm x-xpm=*.xpm
        x-xwindowdump=*.xwd x.djvu=*.djvu
    """,
    "message": """
        rfc822=*.eml x-gnu-rmail=RMAIL
    """,
    "model": """
        3mf=*.3mf gltf+json=*.gltf gltf-binary=*.glb iges=*.igs mtl=*.mtl obj=*.obj stl=*.stl
        vrml=*.vrm x.stl-ascii=*.stl x.stl-binary=*.stl
    """,
    "text": """
        cache-manifest=*.manifest calendar=*.vcs crystal=*.cr css=*.css csv=*.csv csv-schema=*.csvs
        directory=*.vcard ecmascript=*.es gedcom=*.ged google-video-pointer=*.gvp html=*.html
        ico=*.ico javascript=*.js markdown=*.md mathml=*.mml org=*.org plain=*.txt rdf=*.rdf
        richtext=*.rtx rss=*.rss rtf=*.rtf rust=*.rs sgml=*.sgml spreadsheet=*.sylk
        tab-separated-values=*.tsv tcl=*.tcl troff=*.tr turtle=*.ttl vbs=*.vbs vbscript=*.vbs
        vcard=*.vcard vnd.graphviz=*.gv vnd.qt.linguist=*.ts vnd.rn-realtext=*.rt
        vnd.senx.warpscript=*.mc2 vnd.sun.j2me.app-descriptor=*.jad vnd.trolltech.linguist=*.ts
        vnd.wap.wml=*.wml vnd.wap.wmlscript=*.wmls vtt=*.vtt x-adasrc=*.adb x-authors=AUTHORS
        x-bibtex=*.bib x-c=*.c x-c++hdr=*.hh x-c++src=*.cpp x-changelog=ChangeLog x-chdr=*.h
        x-cmake=*.cmake x-cobol=*.cbl x-comma-separated-values=*.csv x-common-lisp=*.asd
        x-copying=COPYING x-credits=CREDITS x-crystal=*.cr x-csharp=*.cs x-csrc=*.c x-csv=*.csv
        x-dart=*.dart x-dbus-service=*.service x-dcl=*.dcl x-diff=*.diff x-dsl=*.dsl x-dsrc=*.d
        x-dtd=*.dtd x-eiffel=*.e x-elixir=*.ex x-emacs-lisp=*.el x-erlang=*.erl x-fortran=*.f
        x-gcode-gx=*.gx x-genie=*.gs x-gettext-translation=*.po
        x-gettext-translation-template=*.pot x-gherkin=*.feature x-go=*.go
        x-google-video-pointer=*.gvp x-gradle=*.gradle x-groovy=*.groovy x-haskell=*.hs x-idl=*.idl
        x-imelody=*.imy x-install=INSTALL x-iptables=*.iptables x-java=*.java x-kaitai-struct=*.ksy
        x-kotlin=*.kt x-ldif=*.ldif x-lilypond=*.ly x-literate-haskell=*.lhs x-log=*.log
        x-lua=*.lua x-lyx=*.lyx x-makefile=makefile x-markdown=*.md x-matlab=*.m
        x-maven+xml=pom.xml x-meson=meson.build x-microdvd=*.sub x-moc=*.moc x-modelica=*.mo
        x-mof=*.mof x-mpl2=*.mpl x-mpsub=*.sub x-mrml=*.mrml x-ms-regedit=*.reg x-mup=*.mup
        x-nfo=*.nfo x-objc++src=*.mm x-objcsrc=*.m x-ocaml=*.ml x-ocl=*.ocl x-octave=*.m
        x-ooc=*.ooc x-opencl-src=*.cl x-opml=*.opml x-opml+xml=*.opml x-pascal=*.p x-patch=*.diff
        x-perl=*.pl x-po=*.po x-pot=*.pot x-python=*.py x-python3=*.py x-qml=*.qml x-readme=README*
        x-reject=*.rej x-rpm-spec=*.spec x-rst=*.rst x-sagemath=*.sage x-sass=*.sass
        x-scala=*.scala x-scheme=*.scm x-scons=SConstruct x-scss=*.scss x-setext=*.etx x-sh=*.sh
        x-sql=*.sql x-ssa=*.ssa x-subviewer=*.sub x-svhdr=*.svh x-svsrc=*.sv
        x-systemd-unit=*.automount x-tcl=*.tcl x-tex=*.tex x-texinfo=*.texi x-troff=*.tr
        x-troff-me=*.me x-troff-mm=*.mm x-troff-ms=*.ms x-twig=*.twig x-txt2tags=*.t2t x-uil=*.uil
        x-uuencode=*.uue x-vala=*.vala x-vcalendar=*.vcs x-vcard=*.vcard x-verilog=*.v x-vhdl=*.vhd
        x-xmi=*.xmi x-xslfo=*.fo x-yaml=*.yaml x.gcode=*.gcode xml=*.xml
        xml-external-parsed-entity=*.ent yaml=*.yaml
    """,
    "video": """
        3gp=*.3gp 3gpp=*.3gp 3gpp-encrypted=*.3gp 3gpp2=*.3g2 annodex=*.axv avi=*.avi divx=*.avi
        dv=*.dv fli=*.fli flv=*.flv mj2=*.mj2 mp2t=*.m2t mp4=*.mp4 mp4v-es=*.mp4 mpeg=*.mpeg
        mpeg-system=*.mpeg msvideo=*.avi ogg=*.ogv quicktime=*.qt vivo=*.viv vnd.divx=*.avi
        vnd.mpegurl=*.m1u vnd.radgamettools.bink=*.bik vnd.radgamettools.smacker=*.smk
        vnd.rn-realvideo=*.rv vnd.vivo=*.viv webm=*.webm x-anim=*.anim[1-9j] x-annodex=*.axv
        x-avi=*.avi x-fli=*.fli x-flic=*.fli x-flv=*.flv x-javafx=*.fxm x-m4v=*.mp4
        x-matroska=*.mkv x-matroska-3d=*.mk3d x-mjpeg=*.mjpeg x-mng=*.mng x-mpeg=*.mpeg
        x-mpeg-system=*.mpeg x-mpeg2=*.mpeg x-mpegurl=*.m1u x-ms-asf=*.asf x-ms-asf-plugin=*.asf
        x-ms-wax=*.asx x-ms-wm=*.asf x-ms-wmv=*.wmv x-ms-wmx=*.asx x-ms-wvx=*.asx x-msvideo=*.avi
        x-nsv=*.nsv x-ogg=*.ogv x-ogm=*.ogm x-ogm+ogg=*.ogm x-real-video=*.rv x-sgi-movie=*.movie
        x-theora=*.ogg x-theora+ogg=*.ogg
    """,
    "x-epoc": """
        x-sisx-app=*.sisx
    """,
    "zz-application": """
        zz-winassoc-123=*.123 zz-winassoc-cab=*.cab zz-winassoc-cdr=*.cdr zz-winassoc-doc=*.doc
        zz-winassoc-hlp=*.hlp zz-winassoc-mdb=*.mdb zz-winassoc-uu=*.uue zz-winassoc-xls=*.xls
    """,
}


@cache
def _table() -> dict[str, str]:
    return {f"{top}/{sub}": glob for top, text in GLOBS.items()
            for sub, _, glob in (item.partition("=") for item in text.split())}


def first_glob(mime: str) -> str | None:
    """The first glob Telegram Desktop's MIME lookup gives ``mime``, or None (unknown type,
    or a type without globs such as application/octet-stream). MIME types are matched
    without regard to case (RFC 2045)."""
    mime = mime.strip().lower()
    return _TDESKTOP.get(mime) or _table().get(mime)


def extension(mime: str, default: str) -> str:
    """The suffix Telegram Desktop appends to a generated name: the first glob with its
    ``*`` removed (so a glob such as ``README*`` gives ``README``), or ``default``."""
    glob = first_glob(mime)
    return glob.replace("*", "") if glob else default


def build(xml_path: str) -> dict[str, str]:
    """mime (and alias) -> first glob, read from a shared-mime-info package file."""
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    table: dict[str, str] = {}
    for node in ET.parse(xml_path).getroot().findall("m:mime-type", ns):
        globs = [g.get("pattern") for g in node.findall("m:glob", ns)]
        if globs:
            for name in [node.get("type"), *(a.get("type") for a in node.findall("m:alias", ns))]:
                table.setdefault(name.lower(), globs[0])
    return table


def _source(table: dict[str, str]) -> str:
    """``GLOBS``'s body for ``table``, as this module spells it."""
    groups: dict[str, list[str]] = {}
    for mime, glob in sorted(table.items()):
        top, _, sub = mime.partition("/")
        groups.setdefault(top, []).append(f"{sub}={glob}")
    lines = []
    for top, items in groups.items():
        lines += [f'    "{top}": """',
                  *textwrap.wrap(" ".join(items), 99, break_on_hyphens=False,
                                 initial_indent=" " * 8, subsequent_indent=" " * 8),
                  '    """,']
    return "\n".join(lines)


if __name__ == "__main__":
    print(_source(build(sys.argv[1])))
