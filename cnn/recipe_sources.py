"""Where each setting of a source network's recipe comes from: the source's words, or the choice made.

Pure data (no TensorFlow), read by ``experiments.reports.recipes`` for ``results/recipes.md``.
``SOURCES[network][setting]`` is one of: a short quotation of the source document
(``../shared/seeds/``, in its original language, the English gloss in brackets); a code line
of the source, ``source: "..."``; or ``not stated: chose X because Y``. The Nizhny Novgorod
article survives only as OCR that read its Cyrillic as Latin look-alikes: it is quoted as the
file has it. mini_xception_64 quotes its authors' repository (oarriaga/face_classification,
``src/train_emotion_classifier.py``, ``src/utils/preprocessor.py``), which no seed contains.

``HERE[network]`` says what our builder does for the settings that ``TrainConfig`` does not
hold (layers, regularisers, dropout); ``cnn/architectures.py`` has the full reading.
"""

from __future__ import annotations

SETTINGS = ("layers", "regularisers", "dropout", "optimiser", "learning rate and schedule", "batch size",
            "epochs and stopping", "augmentation", "input scaling", "class balancing")
#: the settings whose "Here" comes from ``HERE``, not from the recipe
BUILDER_SETTINGS = ("layers", "regularisers", "dropout")

_ADAM = "not stated: chose Adam because the source names no optimiser and Adam is the common one in Keras"
_RATE = "not stated: chose Adam's default 1e-3, constant, because the source gives no rate or schedule"
_BATCH = "not stated: chose 64, the batch of every source CNN here whose source leaves it open"
_NO_AUG = "not stated: chose none because the source describes no augmentation"
_UNIT = "not stated: chose x/255 ([0, 1]), the usual Keras scaling, because the source gives none"
_NO_BALANCE = "not stated: chose none because the source does not rebalance the classes"
_NO_L2 = "not stated: chose none (no L2, no weight decay) because the source names no weight penalty"
_NN_SCALING = ('"Habop manubsix FER Hopmanusyercs Takum oOpa3oM, 4TOOBI ero JaHHbIE HAIOMUHAJIN '
               'HOPMAJIbHOE PaclpeielieHHe" [the FER data set is normalised so that its data look normally '
               'distributed], "UMEH HyJIEBO€ MaTeMaTHYeCKOe OXKHIaHUC M CIMHUYHYIO Jucriepcuro" [with zero '
               'mean and unit variance]: the data set, not each image; one mean and deviation for all pixels '
               'or one per pixel position not stated: chose one each (as Keras\' featurewise normalisation '
               'gives for grey images), computed on Training only (never on PublicTest or PrivateTest)')
_UA_EPOCHS = ('"Усі мережі (A) – (C) пройшли навчання протягом 60 епох." [all networks (A)-(C) trained '
              '60 epochs]')
_MX_RATE = ("source: \"reduce_lr = ReduceLROnPlateau('val_loss', factor=0.1,\" with "
            "\"patience=int(patience/4)\" (= 12) [rate / 10 after 12 epochs without a lower validation "
            "loss], from Adam's default 1e-3")
_MX_AUG = ('source: "rotation_range=10,", "width_shift_range=0.1,", "height_shift_range=0.1,", '
           '"zoom_range=.1,", "horizontal_flip=True)" (ImageDataGenerator)')
_MX_STOP = ("source: \"early_stop = EarlyStopping('val_loss', patience=patience)\" with \"patience = 50\", "
            "\"num_epochs = 10000\"; ModelCheckpoint keeps the lowest val_loss epoch")

SOURCES: dict[str, dict[str, str]] = {
    "thesis_tiny": {
        "layers": '"сверточный слой (convolution) c ядром 5×5, шагом свертки 2, количеством плоскостей '
                  '(каналов) 32" [conv 5x5 stride 2, 32 maps], then conv 3x3 64, 2x2 pools, Dense 500; '
                  'padding not stated: chose "valid" (535k parameters)',
        "regularisers": "not stated: chose none because the thesis' only measure against overfitting is "
                        "dropout",
        "dropout": '"Слои «dropout» были добавлены после двух слоев подвыборки и после одного слоя core '
                   'layer ReLU" [dropout after both pools and after Dense 500]; "блокирующий сигналы 25% '
                   'нейронов" [25%] for the pools; Dense 500\'s rate not stated: chose 0.5',
        "optimiser": '"В качестве алгоритм обучения используется алгоритм Adam" [Adam is the training '
                     'algorithm]',
        "learning rate and schedule": "not stated: chose Adam's default 1e-3, constant, because the thesis "
                                      "names only the algorithm (its code figure 29 is lost)",
        "batch size": "not stated: chose 64, as for the other source CNNs without one (Keras' fit default "
                      "would be 32)",
        "epochs and stopping": "not stated: chose 30 epochs, no early stopping, because the count was in a "
                               "lost code figure (рисунок 30)",
        "augmentation": "not stated: chose none for the training set because the thesis generates images "
                        "only for Disgust (see class balancing)",
        "input scaling": _UNIT,
        "class balancing": '"вплоть до увеличения доли класса «Disgust» до уровня «Surprise»" [Disgust '
                           'generated up to Surprise\'s share]; the copies\' changes are described three '
                           'ways: "операции вращения по оси и смещения углов изображения" [rotation and '
                           'shift] (chapter 2), "на основе опреций масштабирования, смещения и вращения" '
                           '[scaling, shift and rotation] (chapter 3, what the program does), "со случайными '
                           'параметрами операций масштабирования и вращения" [scaling and rotation, random '
                           'parameters] (conclusion): chose all three, as the program\'s description lists '
                           'them; ranges not stated (the ImageDataGenerator parameters were in the lost '
                           'рисунок 26): chose rotation 10 degrees, shift 0.1, zoom 0.1, the usual values',
    },
    "ua_a": {
        "layers": '"Дана мережа складається із трьох згорткових шарів та двох повнозв’язних шарів" [3 conv + '
                  '2 dense]; "кількість обчислень у кожному згортковому шарі залишається приблизно '
                  'однаковою" [equal cost per conv layer]',
        "regularisers": _NO_L2,
        "dropout": '"та шаром проріджування для зменшення ймовірності перенавчання" [and a dropout layer '
                   'against overfitting]; rate and place not stated: chose 0.5 after the hidden dense layer',
        "optimiser": _ADAM,
        "learning rate and schedule": _RATE,
        "batch size": _BATCH,
        "epochs and stopping": _UA_EPOCHS,
        "augmentation": _NO_AUG,
        "input scaling": _UNIT,
        "class balancing": _NO_BALANCE,
    },
    "ua_c": {
        "layers": '"За цим шаром роташований один згортковий шар. Взагалі дана мережа містить два '
                  'згорткових шари та одним повнозв’язний шар" [after the 48x48 input one conv layer; '
                  'Gudi\'s net: 2 conv + 1 dense]; "вирішено застосовати другий проміжний згортковий шар '
                  'для зменшення кількості параметрів" [an added intermediate conv layer, to reduce the '
                  'parameters]: 3 conv layers; sizes not stated: chose those of its reference, Gudi et al. '
                  '[4] (64 5x5, 64 5x5, 128 4x4, a 3x3/2 max-pool after the first, Dense 3072), position by '
                  'position, though Gudi\'s paper lists three conv layers where the article counts two; '
                  'chose stride 2 for the added layer because a conv layer cuts the parameters only by '
                  'shrinking the maps',
        "regularisers": _NO_L2,
        "dropout": '"Метод проріджування було застосовано до повністю пов\'язаного шару" [dropout on the '
                   'dense layer]; rate not stated: chose 0.5',
        "optimiser": _ADAM,
        "learning rate and schedule": "not stated: chose Adam 1e-4, constant, because a 57M-parameter dense "
                                      "layer trains more stably with the smaller step",
        "batch size": _BATCH,
        "epochs and stopping": _UA_EPOCHS + '; "приблизно 64% за 50 епох" [about 64% in 50 epochs]',
        "augmentation": _NO_AUG,
        "input scaling": _UNIT,
        "class balancing": _NO_BALANCE,
    },
    "nn_model1": {
        "layers": '"[TepBas Mojenb COACPKUT 2 cJ0s1 CBEPTKH, 2 CJIOSl IOJBBIOOPKHU M 4 TOTHOCBS3HBIX cios" '
                  '[model 1: 2 conv, 2 pooling, 4 dense layers; the widths were in the lost Fig. 2]',
        "regularisers": '"KJIacCHYecKasi CBEpTOYHAsi HEWPOHHAs CETh, IOCTPOEHHAs AJIs JaHHOM 3aJaul" [a '
                        'plain CNN built for the task; regularisation is model 2\'s addition]',
        "dropout": '"Bropas monens aBisieTcss MOJAEpHHU3ALUEH TIEPBOM MOJIETTH" [model 2 is model 1 '
                   'modernised, with regularisation]: none in model 1',
        "optimiser": _ADAM,
        "learning rate and schedule": _RATE,
        "batch size": _BATCH,
        "epochs and stopping": "not stated: chose 30 epochs, no early stopping, because the article gives no "
                               "count (its learning curve, Fig. 4, is lost)",
        "augmentation": _NO_AUG,
        "input scaling": _NN_SCALING,
        "class balancing": "not stated: chose none because the article only blames the imbalance for errors "
                           "(Disgust 16 times rarer than Happy)",
    },
    "nn_model2": {
        "layers": '"COJIEPKHUT 8 CIIOEB CBEPTKH, 4 cnost moABBIOOPKU U 4 TIOTHOCBSI3HBIX CIIOS" [8 conv, 4 '
                  'pooling, 4 dense layers]; "MEHBIIUI pa3Mep MaTPHIIBI CBEPTKHU" [smaller kernels than '
                  'model 1]; widths lost',
        "regularisers": '"TaKHe MEXaHH3MBbI peryinspusanuu, kak Batch Normalization [5] u Dropout [6]" '
                        '[regularisers such as batch norm and dropout]; no weight penalty named',
        "dropout": '"Kaxblii cioil, ucnons3yromuid Dropout" [each layer that uses dropout ...]: rates and '
                   'places not stated: chose 0.25 after each conv block and dense layer',
        "optimiser": _ADAM,
        "learning rate and schedule": _RATE,
        "batch size": _BATCH,
        "epochs and stopping": "not stated: chose 24 epochs (about 3 h here) because the text gives no count "
                               "(only the lost learning curve, Fig. 6)",
        "augmentation": _NO_AUG,
        "input scaling": _NN_SCALING,
        "class balancing": _NO_BALANCE,
    },
    "bauman_4conv": {
        "layers": '"В первых двух свёрточных слоях использовались 32 фильтра с ядрами 3\\*3 пикселя, в '
                  'последних двух свёрточных слоях – 64 фильтра" [32, 32, 64, 64, 3x3]; 2x2 max-pool after '
                  'each; Dense 1024 ReLU',
        "regularisers": '"Чтобы ускорить процесс обучения, был задействован алгоритм batch normalization" '
                        '[batch norm, to speed up training; where not stated]',
        "dropout": '"в качестве метода регуляризации, предотвращающего переобучение сети, - техника Dropout" '
                   '[dropout], named after the pools and before "Перед полносвязным слоем, состоящим из 1024 '
                   'нейронов [...] проводилась линейаризация при помощи слоя «Flatten»" [before Dense 1024, '
                   'Flatten]; place and rate not stated (Fig. 2 is lost): chose one dropout 0.5 after the '
                   'conv part, before Flatten, as the article\'s transfer heads: "линейаризация при помощи '
                   'Flatten и «прореживание» нейронов с помощью Dropout с вероятностью 0,5" [Flatten and '
                   'dropout 0.5 after the pretrained body]',
        "optimiser": '"в качестве оптимизатора – «Adam» со скоростью обучения 0,0001" [Adam, rate 1e-4]',
        "learning rate and schedule": '"«Adam» со скоростью обучения 0,0001" [rate 1e-4]; no schedule named '
                                      '(only the transfer models\' SGD decays)',
        "batch size": _BATCH,
        "epochs and stopping": '"уменьшалась в течение пяти эпох, то производилась ранняя остановка процесса '
                               'обучения" [early stop after 5 epochs of falling val_acc]; "за 112 эпох" '
                               '[112 epochs]',
        "augmentation": _NO_AUG,
        "input scaling": _UNIT,
        "class balancing": '"Путём увеличения количества изображений в наборе данных можно избавиться от '
                           'имеющегося дисбаланса" [more images could remove the imbalance: proposed, not '
                           'done]',
    },
    "mini_xception": {
        "layers": '"складається з чотирьох залишкових глибоко-відокремлюваних згорток" [four residual '
                  'depthwise-separable modules]; source: "x = SeparableConv2D(16, (3, 3), padding=\'same\',"',
        "regularisers": 'source: "def XNET(input_shape, num_classes, l2_regularization=0.01):", passed to '
                        'the stem convs and every SeparableConv2D (which Keras 2 ignored)',
        "dropout": "not stated: chose none because the thesis' code (Додаток А, XNET) has no Dropout layer",
        "optimiser": '"з оптимізатором ADAM" [with Adam]; source: "model.compile(optimizer=\'adam\', '
                     'loss=\'categorical_crossentropy\',"',
        "learning rate and schedule": _MX_RATE,
        "batch size": 'source: "batch_size = 32"',
        "epochs and stopping": _MX_STOP + '; "Навчання було зупинено на 105 епосі" [stopped at epoch 105]',
        "augmentation": _MX_AUG,
        "input scaling": 'source: "faces = preprocess_input(faces)" (body not in the thesis; the authors\': '
                         'x / 255.0, x - 0.5, x * 2.0); the thesis\' demo only divides: "/ 255.0"',
        "class balancing": '"можливо, знадобиться вирівняти датасет шляхом генерації додаткових екземплярів" '
                           '[balancing may be needed], but its code does not: none',
    },
    "mini_xception_64": {
        "layers": 'source: "input_shape = (64, 64, 1)" with "DataManager(dataset_name, '
                  'image_size=input_shape[:2])" [48x48 faces resized to 64x64], then mini_XCEPTION',
        "regularisers": 'source: "def mini_XCEPTION(input_shape, num_classes, l2_regularization=0.01):"; the '
                        'released model\'s stored config has it on the two stem convs only',
        "dropout": "not stated: chose none because the authors' mini_XCEPTION has no Dropout layer",
        "optimiser": "source: \"model.compile(optimizer='adam', loss='categorical_crossentropy',\"",
        "learning rate and schedule": _MX_RATE,
        "batch size": 'source: "batch_size = 32"',
        "epochs and stopping": _MX_STOP + "; the released model is from epoch 102",
        "augmentation": _MX_AUG,
        "input scaling": 'source: "x = x / 255.0", "x = x - 0.5", "x = x * 2.0" (preprocess_input) [to [-1, '
                         '1]]',
        "class balancing": "not stated: chose none because the authors' script trains on fer2013.csv as it "
                           "is",
    },
}

#: the Bauman network at the article's own epoch count: its source is the same article
SOURCES["bauman_4conv_112"] = {
    **SOURCES["bauman_4conv"],
    "epochs and stopping": '"за 112 эпох" [in 112 epochs]: trained the 112 epochs the article '
                           "reached, without the early stopping that ends it at 18-24 epochs here "
                           "(bauman_4conv)",
}

HERE: dict[str, dict[str, str]] = {
    "thesis_tiny": {
        "layers": 'conv 32 5x5/2 "valid" -> pool 2 -> conv 64 3x3 -> pool 2 -> Dense 500 -> Dense 7',
        "regularisers": "none",
        "dropout": "0.25 after each pool, 0.5 after Dense 500",
    },
    "ua_a": {
        "layers": 'conv 32, 64, 128 5x5 "same", each + pool 2 -> Dense 512 -> Dense 7',
        "regularisers": "none",
        "dropout": "0.5 after Dense 512",
    },
    "ua_c": {
        "layers": 'conv 64 5x5 -> pool 3/2 -> conv 64 5x5 stride 2 (the added layer) -> conv 128 4x4, all '
                  '"same" -> Dense 3072 -> Dense 7',
        "regularisers": "none",
        "dropout": "0.5 after Dense 3072",
    },
    "nn_model1": {
        "layers": 'conv 32, 64 5x5 "same", each + pool 2 -> Dense 512, 256, 128 -> Dense 7',
        "regularisers": "none",
        "dropout": "none",
    },
    "nn_model2": {
        "layers": "4 blocks of 2 x conv 3x3 (64, 128, 256, 512) + pool 2 -> Dense 512, 256, 128 -> Dense 7",
        "regularisers": "batch norm after every conv and hidden dense layer",
        "dropout": "0.25 after each block and each hidden dense layer",
    },
    "bauman_4conv": {
        "layers": 'conv 32, 32, 64, 64 3x3 "same", each + pool 2 -> Flatten -> Dense 1024 -> Dense 7',
        "regularisers": "batch norm after each conv (before ReLU)",
        "dropout": "0.5 after the last pool, before Flatten; none after Dense 1024",
    },
    "mini_xception": {
        "layers": "2 x conv 8 3x3 -> 4 residual separable modules (16, 32, 64, 128) -> conv 7 3x3 -> GAP",
        "regularisers": "L2 0.01 on the two stem convs only; batch norm throughout",
        "dropout": "none",
    },
    "mini_xception_64": {
        "layers": "bilinear resize to 64x64 -> mini_xception's network",
        "regularisers": "L2 0.01 on the two stem convs only; batch norm throughout",
        "dropout": "none",
    },
}
HERE["bauman_4conv_112"] = HERE["bauman_4conv"]
